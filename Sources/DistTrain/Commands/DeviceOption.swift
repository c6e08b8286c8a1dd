import Collectives
import CUDARuntime
import Engine

/// `--device cpu|cuda|auto`, shared by `train` and `bench`.
let deviceOption = Option.value("device", default: "cpu",
                                "cpu, cuda or auto (auto: the GPU when the NVIDIA driver reports one, else the CPU). "
                                + "train: one process per GPU for now (several ranks need NCCL); bench: CPU only")

/// Why `bench` cannot use a GPU yet.
let benchOnGPUMissing = "bench on the GPU is not wired yet (GitHub issue 6; 'disttrain gpu-check' compares the GPU's ops with the CPU's)"

/// The `--device` word, or a usage error (exit 2).
func deviceRequest(_ parsed: ParsedArguments) throws -> DeviceRequest {
    let word = parsed.string("device")!
    guard let request = DeviceRequest(rawValue: word) else {
        throw UsageError("--device must be cpu, cuda or auto, got '\(word)'")
    }
    return request
}

/// Resolves `--device` for a command that runs on the CPU only (`bench`): `cuda` without a usable GPU
/// throws at once (exit 1) with the loader's message (the library, every place looked in, what to do),
/// `cuda` with one says the command cannot use it yet; `auto` runs on the CPU, and the line saying why is
/// printed when `printsNote` (rank 0).
func resolveCPUOnlyDeviceOption(_ parsed: ParsedArguments, localRank: Int, printsNote: Bool) throws {
    let request = try deviceRequest(parsed)
    let selection = try selectDevice(request, localRank: localRank)
    if let note = try cpuOnly(selection, request: request, missing: benchOnGPUMissing), printsNote {
        printFlushed(note)
    }
}

/// The backend `train` runs on: nil for the CPU, or `CUDABackend` on this process's GPU (local rank modulo
/// the GPUs the driver reports). One process only: several GPU ranks need the NCCL communicator, so
/// `cuda` with several ranks stops and `auto` falls back to the CPU, saying so.
func trainingBackend(_ parsed: ParsedArguments, topology: Topology) throws -> (any Backend)? {
    let request = try deviceRequest(parsed)
    let selection = try selectDevice(request, localRank: topology.localRank)
    if case .cuda = selection, topology.worldSize == 1 {
        let device = try CUDADevice(localRank: topology.localRank)
        printFlushed("device: \(device.info)")
        return CUDABackend(device: device)
    }
    let missing = "several GPU ranks need the NCCL communicator, which is not built yet (GitHub issue 6)"
    if let note = try cpuOnly(selection, request: request, missing: missing), topology.rank == 0 { printFlushed(note) }
    return nil
}
