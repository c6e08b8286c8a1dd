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
        // CUDA driver API, NVRTC, cuBLAS(Lt) and NCCL: a header of types and function-pointer types only.
        // Nothing links against CUDA; CUDARuntime opens the libraries with dlopen when the GPU path is used.
        .systemLibrary(name: "CCUDA", path: "Sources/CCUDA"),

        // The engine: tensors, the Backend protocol and the CPU backend.
        .target(name: "Engine", dependencies: ["CBLAS"], swiftSettings: strict),
        // GPU libraries loaded at run time, device selection, NVRTC kernel compiler and the CUDA C kernels.
        .target(name: "CUDARuntime", dependencies: ["CCUDA", "Engine", "Collectives"], swiftSettings: strict),
        // Process topology and communicators (Local, MPI).
        .target(name: "Collectives", dependencies: ["CMPI", "Engine"], swiftSettings: strict),
        // Layers, ResNet, losses, optimisers.
        .target(name: "Models", dependencies: ["Engine", "Collectives"], swiftSettings: strict),
        // Dataset formats, samplers, loaders.
        .target(name: "Data", dependencies: ["CZlib", "Engine"], swiftSettings: strict),
        // The command-line program.
        .executableTarget(name: "DistTrain", dependencies: ["Engine", "Collectives", "Models", "Data", "CUDARuntime"],
                          swiftSettings: strict),

        .testTarget(name: "EngineTests", dependencies: ["Engine"]),
        // The emulated GPU for the tests: CUDA's built-ins on the CPU (cuda_emulation.h), the kernels compiled
        // by the host's C++ compiler, a GPUDevice over them. Only test targets depend on it.
        .target(name: "GPUEmulation", dependencies: ["CUDARuntime", "Collectives"], path: "Tests/GPUEmulation",
                exclude: ["cuda_emulation.h"]),
        .testTarget(name: "CUDARuntimeTests", dependencies: ["CUDARuntime", "CCUDA", "Engine", "Models", "GPUEmulation"]),
        .testTarget(name: "CollectivesTests", dependencies: ["Collectives"]),
        .testTarget(name: "ModelsTests", dependencies: ["Models", "Engine", "Collectives"], resources: [.copy("Fixtures")]),
        .testTarget(name: "DataTests", dependencies: ["Data", "Engine", "CZlib"], resources: [.copy("Fixtures")]),
        .testTarget(name: "DistTrainTests", dependencies: ["DistTrain", "CZlib", "CUDARuntime", "GPUEmulation"],
                    resources: [.copy("Fixtures")]),
    ]
)
