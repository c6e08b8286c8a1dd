import Collectives
import CUDARuntime
import Engine

/// `--device cpu|cuda|auto`, shared by `train` and `bench`.
let deviceOption = Option.value("device", default: "cpu",
                                "cpu, cuda or auto (auto: the GPU when the NVIDIA driver reports one, else the CPU). "
                                + "train: one process per GPU for now (several ranks need NCCL)")

/// The `--device` word, or a usage error (exit 2).
func deviceRequest(_ parsed: ParsedArguments) throws -> DeviceRequest {
    let word = parsed.string("device")!
    guard let request = DeviceRequest(rawValue: word) else {
        throw UsageError("--device must be cpu, cuda or auto, got '\(word)'")
    }
    return request
}

/// The backend `train` and `bench` run on: nil for the CPU, or `CUDABackend` on this process's GPU (local
/// rank modulo the GPUs the driver reports). `cuda` without a usable GPU throws at once (exit 1) with the
/// loader's message (the library, every place looked in, what to do); `auto` then runs on the CPU and
/// prints why. One process only: several GPU ranks need the NCCL communicator, so `cuda` with several
/// ranks stops and `auto` falls back to the CPU, saying so.
func deviceBackend(_ parsed: ParsedArguments, topology: Topology) throws -> (any Backend)? {
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
