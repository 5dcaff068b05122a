// swift-tools-version:6.0
import PackageDescription

/// Release builds specialise the generic engine across module boundaries, so that
/// `Float` kernels written once over `Scalar` run as concrete, vectorisable loops.
let fastFlags: [SwiftSetting] = [
    .unsafeFlags(["-cross-module-optimization", "-enforce-exclusivity=unchecked"],
                 .when(configuration: .release)),
]

let package = Package(
    name: "LargeVAE",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "largevae", targets: ["largevae"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-numerics", from: "1.0.0"),
    ],
    targets: [
        // System libraries. On macOS the engine uses Accelerate instead of OpenBLAS.
        .systemLibrary(name: "CBLAS", path: "Sources/CBLAS",
                       providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CZeroMQ", path: "Sources/CZeroMQ",
                       providers: [.apt(["libzmq3-dev"]), .brew(["zeromq"])]),

        // libpng through its simplified png_image_* API (no longjmp into Swift frames).
        .systemLibrary(name: "CPNG", path: "Sources/CPNG", pkgConfig: "libpng",
                       providers: [.apt(["libpng-dev"]), .brew(["libpng"])]),
        // CRC-32C, shared by the artifact formats and the wire format.
        .target(name: "Checksums", dependencies: ["CKernels"], swiftSettings: fastFlags),
        .target(name: "Artifacts", dependencies: ["CPNG", "Checksums"]),
        .systemLibrary(name: "CZlib", path: "Sources/CZlib", providers: [.apt(["zlib1g-dev"])]),
        .target(name: "Datasets", dependencies: ["CZlib"], swiftSettings: fastFlags),
        // A thin, safe layer over libzmq and the versioned wire format (distributed training).
        .target(name: "Transport", dependencies: ["CZeroMQ", "Checksums", "CKernels"], swiftSettings: fastFlags),
        // Small C kernels: a vectorisable Adam update, a hardware CRC-32C and bf16 conversion (see the header for why).
        .target(name: "CKernels", path: "Sources/CKernels",
                cSettings: [.unsafeFlags(["-O3", "-fno-math-errno", "-ffp-contract=off"])]),
        .target(name: "Tensor",
                dependencies: [
                    .target(name: "CBLAS", condition: .when(platforms: [.linux])),
                    .product(name: "RealModule", package: "swift-numerics"),
                ],
                swiftSettings: fastFlags),
        .target(name: "NN", dependencies: ["Tensor", "CKernels"], swiftSettings: fastFlags),
        .target(name: "VAE", dependencies: ["Tensor", "NN"], swiftSettings: fastFlags),
        .target(name: "Training", dependencies: ["Tensor", "NN", "VAE", "Artifacts", "CKernels"], swiftSettings: fastFlags),
        // Coordinator and workers: the step's units over ZeroMQ (depends on Training, never back).
        .target(name: "Cluster",
                dependencies: ["Tensor", "NN", "VAE", "Training", "Transport", "CKernels",
                               .product(name: "Logging", package: "swift-log")],
                swiftSettings: fastFlags),
        .executableTarget(name: "largevae",
                          dependencies: [
                              "Tensor", "NN", "VAE", "Training", "Datasets", "Artifacts", "Cluster", "Transport",
                              .product(name: "ArgumentParser", package: "swift-argument-parser"),
                              .product(name: "Logging", package: "swift-log"),
                          ],
                          swiftSettings: fastFlags),

        // Shared test helpers (assertClose, finite differences, fixtures); used only by tests.
        .target(name: "TestSupport", dependencies: ["Datasets"], path: "Sources/TestSupport"),
        .testTarget(name: "ArtifactsTests", dependencies: ["Artifacts", "Checksums", "TestSupport"],
                    exclude: ["read_events.py", "safetensors_tool.py"]),
        .testTarget(name: "DatasetsTests", dependencies: ["Datasets", "CZlib", "MallocCounter"]),
        // End-to-end runs of the real executable (it must be built: `swift build` builds it).
        .testTarget(name: "CLITests", dependencies: ["Artifacts", "Datasets", "TestSupport", "Transport", "Checksums"],
                    exclude: ["inspect_run.py"]),
        .testTarget(name: "ClusterTests", dependencies: ["Cluster", "Training", "VAE", "NN", "Tensor", "Transport", "TestSupport",
                                                         .product(name: "Logging", package: "swift-log")]),
        .testTarget(name: "TransportTests", dependencies: ["Transport", "Checksums", "TestSupport"]),
        .testTarget(name: "TensorTests", dependencies: ["Tensor", "TestSupport"]),
        .testTarget(name: "NNTests", dependencies: ["Tensor", "NN", "TestSupport"]),
        .testTarget(name: "VAETests", dependencies: ["Tensor", "NN", "VAE", "TestSupport"],
                    resources: [.copy("Reference")]),
        // Counts mallocs in the test process, to show that a training step allocates nothing.
        .target(name: "MallocCounter", path: "Sources/MallocCounter"),
        .testTarget(name: "TrainingTests", dependencies: ["Tensor", "NN", "VAE", "Training", "Artifacts", "TestSupport", "MallocCounter", "CKernels"]),
    ],
    swiftLanguageModes: [.v5]
)
