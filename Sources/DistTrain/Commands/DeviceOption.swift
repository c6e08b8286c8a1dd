import CUDARuntime
import Engine

/// `--device cpu|cuda|auto`, shared by `train` and `bench`.
let deviceOption = Option.value("device", default: "cpu",
                                "cpu, cuda or auto (auto: the GPU when the NVIDIA driver reports one, else the CPU). "
                                + "Training on the GPU is not wired yet: cuda stops, auto falls back to the CPU (disttrain gpu-check tests the GPU ops)")

/// Resolves `--device` through `CUDARuntime.selectDevice` before any work starts: `cuda` without a usable
/// GPU throws at once (exit 1) with the loader's message (the library, every place looked in, what to do);
/// an unknown word is a usage error (exit 2). Until the CUDA backend exists every command runs on the CPU,
/// and the line saying why is printed when `printsNote` (rank 0).
func resolveDeviceOption(_ parsed: ParsedArguments, localRank: Int, printsNote: Bool) throws {
    let word = parsed.string("device")!
    guard let request = DeviceRequest(rawValue: word) else {
        throw UsageError("--device must be cpu, cuda or auto, got '\(word)'")
    }
    let selection = try selectDevice(request, localRank: localRank)
    if let note = try requireCPUBackendUntilCUDAExists(selection, request: request), printsNote {
        printFlushed(note)
    }
}
