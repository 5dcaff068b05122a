print("largevae")
