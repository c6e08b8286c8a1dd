// swift-tools-version:6.0
// disttrain: distributed self-supervised image training. No Swift package dependencies:
// system libraries come in through the C bridge targets below (module maps over their headers).
import PackageDescription

let strict: [SwiftSetting] = [.unsafeFlags(["-Ounchecked"], .when(configuration: .release))]

let package = Package(
    name: "disttrain",
    products: [
        .executable(name: "disttrain", targets: ["DistTrain"]),
    ],
    targets: [
        // C bridges, one per system library.
        .systemLibrary(name: "CMPI", path: "Sources/CMPI", pkgConfig: "ompi-c",
                       providers: [.apt(["libopenmpi-dev", "openmpi-bin"])]),
        .systemLibrary(name: "CBLAS", path: "Sources/CBLAS", pkgConfig: "openblas",
                       providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CZlib", path: "Sources/CZlib", pkgConfig: "zlib",
                       providers: [.apt(["zlib1g-dev"])]),

        // The engine: tensors, the Backend protocol and the CPU backend.
        .target(name: "Engine", dependencies: ["CBLAS"], swiftSettings: strict),
        // Process topology and communicators (Local, MPI).
        .target(name: "Collectives", dependencies: ["CMPI", "Engine"], swiftSettings: strict),
        // Layers, ResNet, losses, optimisers.
        .target(name: "Models", dependencies: ["Engine", "Collectives"], swiftSettings: strict),
        // Dataset formats, samplers, loaders.
        .target(name: "Data", dependencies: ["CZlib", "Engine"], swiftSettings: strict),
        // The command-line program.
        .executableTarget(name: "DistTrain", dependencies: ["Engine", "Collectives", "Models", "Data"],
                          swiftSettings: strict),

        .testTarget(name: "EngineTests", dependencies: ["Engine"]),
        .testTarget(name: "CollectivesTests", dependencies: ["Collectives"]),
        .testTarget(name: "ModelsTests", dependencies: ["Models", "Engine"], resources: [.copy("Fixtures")]),
        .testTarget(name: "DataTests", dependencies: ["Data", "Engine", "CZlib"], resources: [.copy("Fixtures")]),
        .testTarget(name: "DistTrainTests", dependencies: ["DistTrain"], resources: [.copy("Fixtures")]),
    ]
)
