import Engine

/// Where a method's losses, embedding statistics and probe features live: in host memory. On the CPU
/// this is the method's own backend and nothing moves or is copied; on a GPU the embeddings come down
/// (`down`), the loss runs on a host CPU backend (`host`), and its gradients go back up (`up`). The
/// embeddings are `[B, D]` per view, small next to the encoder's activations, so the round trip is cheap
/// against a ResNet step.
struct HostIsland {
    /// The method's backend (where the network runs).
    let device: any Backend
    /// The backend the losses use for their own GEMMs: `device` on the CPU, else a host CPU backend.
    let host: any Backend

    init(_ device: any Backend) {
        self.device = device
        host = device.device == .cpu ? device : CPUBackend(threads: CPUBackend.defaultThreadCount)
    }

    /// `tensor`'s values on the host: the tensor itself on the CPU (no copy), a fresh copy from a GPU.
    func down(_ tensor: Tensor) -> Tensor { device.onHost(tensor) }

    /// A host copy the caller may keep while the network reuses `tensor`'s buffer.
    func hostCopy(_ tensor: Tensor) -> Tensor { device.device == .cpu ? copied(tensor) : device.onHost(tensor) }

    /// A host gradient as a tensor of `device`: itself on the CPU, uploaded to a GPU.
    func up(_ tensor: Tensor) -> Tensor { device.deviceCopy(tensor) }
}

/// A new host tensor holding a copy of `t`.
func copied(_ t: Tensor) -> Tensor {
    let out = Tensor(zeros: t.shape)
    out.assign(from: t)
    return out
}
