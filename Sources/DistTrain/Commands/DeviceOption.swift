import Collectives
import CUDARuntime
import Engine

/// `--device cpu|cuda|auto`, shared by `train` and `bench`.
let deviceOption = Option.value("device", default: "cpu",
                                "cpu, cuda or auto (auto: the GPU when the NVIDIA driver reports one, else the CPU). "
                                + "With mpirun, one rank per GPU (local rank modulo the GPUs of the node); see --gpu-collectives")

/// `--gpu-collectives auto|nccl|host` (train).
let gpuCollectivesOption = Option.value("gpu-collectives", default: "auto",
                                        "GPUs under mpirun: nccl (gradients all-reduced between the GPUs by NCCL), host "
                                        + "(copied to host memory and summed over MPI) or auto (NCCL when libnccl.so.2 "
                                        + "loads on every rank, else host). With NCCL, SyncBN's statistics and sums go "
                                        + "over it too; gathered embeddings go through host memory either way")

/// How several GPU ranks sum their gradients.
enum GPUCollectivesRequest: String {
    case auto, nccl, host
}

/// The `--gpu-collectives` word, or a usage error (exit 2).
func gpuCollectivesRequest(_ parsed: ParsedArguments) throws -> GPUCollectivesRequest {
    let word = parsed.string("gpu-collectives")!
    guard let request = GPUCollectivesRequest(rawValue: word) else {
        throw UsageError("--gpu-collectives must be auto, nccl or host, got '\(word)'")
    }
    return request
}

/// NCCL for the gradient all-reduce of several GPU ranks, or nil (one rank, the CPU, `host`, or `auto`
/// where some rank could not open NCCL). Collective when there are several ranks on GPUs: every rank
/// opens NCCL, then all agree, so they choose the same path; `nccl` where a rank lacks it throws on
/// every rank, with the loader's message (where it looked, what to install) on the ranks that lack it.
func deviceCollectiveCalls(_ request: GPUCollectivesRequest, backend: (any Backend)?,
                           communicator: any Communicator) throws -> (any DeviceCollectiveCalls)? {
    guard communicator.worldSize > 1, let gpu = (backend as? CUDABackend)?.gpu as? CUDADevice, request != .host else {
        return nil
    }
    var calls: NCCLCalls?
    var failure: (any Error)?
    do { calls = try NCCLCalls(device: gpu) } catch { failure = error }
    let missingSomewhere = try communicator.allReduceMax(calls == nil ? 1 : 0) > 0
    switch (request, missingSomewhere) {
    case (_, false):
        if communicator.rank == 0, let calls {
            printFlushed("gradients: all-reduced between the GPUs by \(calls.name), on a stream of their own "
                         + "(--bucket-mb buckets queued during backward unless --no-overlap); SyncBN over it too")
        }
        return calls
    case (.nccl, true):
        throw failure.map { UsageError("--gpu-collectives nccl: \($0)") }
            ?? UsageError("--gpu-collectives nccl: another rank could not open NCCL (its error names the library and where it looked)")
    default:
        if communicator.rank == 0 {
            printFlushed("gradients: summed through host memory over MPI (auto: NCCL could not be opened on every rank"
                         + (failure.map { ": " + firstLine(of: "\($0)") } ?? "") + ")")
        }
        return nil
    }
}

/// `--precision fp32|bf16`, shared by `train` and `bench`.
let precisionOption = Option.value("precision", default: "fp32",
                                   "fp32 or bf16. bf16 (GPU only): convolutions and linear layers multiply bf16 operands "
                                   + "on the tensor cores with fp32 accumulation; activations, weights, batch norm, "
                                   + "optimiser and losses stay fp32")

/// The `--precision` word, or a usage error (exit 2).
func precisionRequest(_ parsed: ParsedArguments) throws -> Precision {
    let word = parsed.string("precision")!
    guard let precision = Precision(rawValue: word) else {
        throw UsageError("--precision must be fp32 or bf16, got '\(word)'")
    }
    return precision
}

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
/// prints why (rank 0).
/// `--precision bf16` runs on the GPU only: with `--device cpu` it is a usage error; when `auto` finds no
/// GPU the run goes on in fp32 and says so.
func deviceBackend(_ parsed: ParsedArguments, topology: Topology) throws -> (any Backend)? {
    let request = try deviceRequest(parsed), precision = try precisionRequest(parsed)
    if request == .cpu && precision == .bf16 {
        throw UsageError("--precision bf16 needs a GPU (--device cuda or auto); the CPU backend computes in fp32")
    }
    let selection = try selectDevice(request, localRank: topology.localRank)
    if case .cuda = selection {
        let device = try CUDADevice(localRank: topology.localRank)
        printFlushed((topology.worldSize > 1 ? "rank \(topology.rank): " : "") + "device: \(device.info), \(precision)")
        return CUDABackend(device: device, precision: precision)
    }
    if case .cpu(let reason?) = selection, topology.rank == 0 {
        printFlushed("device: cpu (auto: \(reason))" + (precision == .bf16 ? "; fp32, as bf16 needs a GPU" : ""))
    }
    return nil
}
