import ArgumentParser

/// The `largevae` command line.
struct LargeVAE: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "largevae",
        abstract: "Train VAEs with the VampPrior (Tomczak & Welling 2018) on one machine or many.",
        version: "0.1.0",
        subcommands: [Train.self, Evaluate.self, Sample.self, Reconstruct.self, DataCommand.self, Bench.self])
}

LargeVAE.main()
