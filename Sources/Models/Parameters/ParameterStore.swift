import Engine

/// What a parameter is, for optimisers that treat kinds differently (LARS skips biases and BN).
public enum ParameterRole: String, Sendable {
    case weight, bias, normScale, normShift
}

/// How a parameter is laid out inside the engine versus in PyTorch checkpoints.
public enum TorchLayout: Sendable {
    /// Identical element order.
    case same
    /// Engine `[Cout, KH, KW, Cin]` (OHWI) ↔ PyTorch `[Cout, Cin, KH, KW]` (OIHW).
    case convolutionOHWI
}

/// How to fill a parameter or buffer when a model is created.
public enum Initializer: Sendable {
    case zeros, ones
    /// Normal(0, sqrt(2 / fan_out)), torchvision's conv init (He et al. 2015).
    case kaimingNormalFanOut(fanOut: Int)
    /// Uniform(−bound, bound), PyTorch's default for Linear weights and biases (bound = 1/sqrt(fan_in)).
    case uniform(bound: Double)
}

/// One named slice of a flat buffer.
public struct ParameterInfo: Sendable {
    public let name: String
    /// Shape in the engine's layout.
    public let shape: [Int]
    public let offset: Int
    public let role: ParameterRole
    public let layout: TorchLayout
    public let initializer: Initializer
    public var count: Int { shape.reduce(1, *) }

    /// Shape in PyTorch's layout.
    public var torchShape: [Int] {
        switch layout {
        case .same: return shape
        case .convolutionOHWI: return [shape[0], shape[3], shape[1], shape[2]]
        }
    }
}

/// A handle to a parameter registered in a `ParameterStore`.
public struct ParameterHandle: Sendable { public let index: Int }
/// A handle to a non-trained buffer (BN running statistics).
public struct BufferHandle: Sendable { public let index: Int }

/// All trainable parameters of a model in ONE flat value buffer and ONE flat gradient buffer
/// (plus one flat buffer for running statistics). Layers hold handles and read views.
///
/// Models register every parameter while they are built, then `allocate(seed:)` creates the buffers
/// and fills them. All-reduce, optimisers, EMA and checkpoints loop over the flat buffers.
public final class ParameterStore {
    public private(set) var parameters: [ParameterInfo] = []
    public private(set) var buffers: [ParameterInfo] = []
    public private(set) var values = Tensor(zeros: [0])
    public private(set) var gradients = Tensor(zeros: [0])
    public private(set) var bufferValues = Tensor(zeros: [0])
    public private(set) var isAllocated = false
    private var parameterCount = 0
    private var bufferCount = 0

    public init() {}

    /// Total number of trainable scalars.
    public var count: Int { parameterCount }

    public func register(_ name: String, shape: [Int], role: ParameterRole, layout: TorchLayout = .same,
                         initializer: Initializer) -> ParameterHandle {
        precondition(!isAllocated, "parameters must be registered before allocate()")
        precondition(!parameters.contains { $0.name == name }, "parameter '\(name)' registered twice")
        parameters.append(ParameterInfo(name: name, shape: shape, offset: parameterCount, role: role,
                                        layout: layout, initializer: initializer))
        parameterCount += shape.reduce(1, *)
        return ParameterHandle(index: parameters.count - 1)
    }

    public func registerBuffer(_ name: String, shape: [Int], initializer: Initializer) -> BufferHandle {
        precondition(!isAllocated, "buffers must be registered before allocate()")
        buffers.append(ParameterInfo(name: name, shape: shape, offset: bufferCount, role: .weight, layout: .same,
                                     initializer: initializer))
        bufferCount += max(1, shape.reduce(1, *))
        return BufferHandle(index: buffers.count - 1)
    }

    /// The backend whose memory holds the buffers when it is not the host's (a GPU); nil on the CPU.
    public private(set) var deviceBackend: (any Backend)?

    /// Creates the flat buffers and initialises every parameter from `seed` (each parameter has its own
    /// stream). With a GPU `backend` the buffers live in its memory: the same values are made on the host,
    /// then uploaded, so a seed gives the same network on every device.
    public func allocate(seed: UInt64, backend: (any Backend)? = nil) {
        precondition(!isAllocated, "allocate() called twice")
        values = Tensor(zeros: [parameterCount])
        gradients = Tensor(zeros: [parameterCount])
        bufferValues = Tensor(zeros: [bufferCount])
        isAllocated = true
        for (index, info) in parameters.enumerated() {
            fill(values.pointer + info.offset, info.count, info.initializer,
                 RandomGenerator(seed: seed, 0x5041_5241, UInt64(index)))
        }
        for info in buffers {
            fill(bufferValues.pointer + info.offset, info.count, info.initializer, RandomGenerator(seed: seed))
        }
        if let backend, backend.device != .cpu {
            deviceBackend = backend
            let hostValues = values, hostBuffers = bufferValues
            values = backend.zeros([parameterCount])
            gradients = backend.zeros([parameterCount])
            bufferValues = backend.zeros([bufferCount])
            backend.upload(hostValues, to: values)
            backend.upload(hostBuffers, to: bufferValues)
        }
    }

    /// Makes this store view `other`'s flat value, gradient and statistics buffers instead of allocating its own.
    ///
    /// For a second copy of the same network's layers (built in the same order, so every name, shape and
    /// offset matches): the copy reads the same weights and accumulates into the same gradient buffer and
    /// the same BN statistics, while its layers keep their own activation caches. Methods use it to run
    /// two views through one encoder with both views' caches alive until backward.
    public func allocate(sharing other: ParameterStore) {
        precondition(!isAllocated, "allocate called twice")
        precondition(other.isAllocated, "allocate(sharing:) needs an allocated store to share")
        func layout(_ infos: [ParameterInfo]) -> [String] { infos.map { "\($0.name) \($0.shape) @\($0.offset)" } }
        precondition(layout(parameters) == layout(other.parameters) && layout(buffers) == layout(other.buffers),
                     "allocate(sharing:): the two stores were built differently")
        values = other.values
        gradients = other.gradients
        bufferValues = other.bufferValues
        deviceBackend = other.deviceBackend
        isAllocated = true
    }

    /// This store with its values and buffers in host memory (for checkpoints and weight files): the store
    /// itself when they already are, else a copy with the same names, shapes and offsets (gradients zero).
    public func hostCopy() -> ParameterStore {
        guard let deviceBackend else { return self }
        let copy = ParameterStore()
        copy.parameters = parameters
        copy.buffers = buffers
        copy.parameterCount = parameterCount
        copy.bufferCount = bufferCount
        copy.values = deviceBackend.onHost(values)
        copy.bufferValues = deviceBackend.onHost(bufferValues)
        copy.gradients = Tensor(zeros: [parameterCount])  // unused, but every parameter view has one
        copy.isAllocated = true
        return copy
    }

    /// Writes back the values and buffers of `host`, a `hostCopy()` of this store that was loaded into.
    public func upload(from host: ParameterStore) {
        guard host !== self else { return }
        precondition(host.parameterCount == parameterCount && host.bufferCount == bufferCount,
                     "upload(from:): a store of another layout")
        guard let deviceBackend else {
            values.assign(from: host.values)
            bufferValues.assign(from: host.bufferValues)
            return
        }
        deviceBackend.upload(host.values, to: values)
        deviceBackend.upload(host.bufferValues, to: bufferValues)
    }

    public func value(_ handle: ParameterHandle) -> Tensor { view(values, parameters[handle.index]) }
    public func gradient(_ handle: ParameterHandle) -> Tensor {
        let info = parameters[handle.index]
        lowestGradientTouched = min(lowestGradientTouched, info.offset)
        return view(gradients, info)
    }

    // MARK: Gradient readiness (for overlapping the gradient all-reduce with backward)

    /// Called during a backward pass with an offset `o` once every gradient at flat offsets `≥ o` is final
    /// for this step. Set on the store whose layers run a step's *last* backward pass (see
    /// `SelfSupervisedMethod.lastBackwardStore`); nil otherwise.
    public var onGradientsFinal: ((Int) -> Void)?
    /// The lowest offset a layer of this store asked for a gradient of since `beginBackward()`.
    private var lowestGradientTouched = Int.max

    /// Starts tracking a backward pass.
    public func beginBackward() { lowestGradientTouched = Int.max }

    /// Called by containers (ResNet blocks, heads) after a whole layer or block has run its backward.
    /// Parameters are registered in forward order and backward runs in reverse, so once a container's
    /// layer is done every gradient from the lowest offset touched so far up to the end is final.
    public func layerBackwardFinished() {
        guard let onGradientsFinal, lowestGradientTouched != Int.max else { return }
        onGradientsFinal(lowestGradientTouched)
    }
    public func buffer(_ handle: BufferHandle) -> Tensor { view(bufferValues, buffers[handle.index]) }

    /// Sets every gradient to zero (backward passes accumulate).
    public func zeroGradients() {
        if let deviceBackend { deviceBackend.fill(gradients, with: 0) } else {
            gradients.pointer.update(repeating: 0, count: parameterCount)
        }
    }

    public func parameter(named name: String) -> (info: ParameterInfo, value: Tensor, gradient: Tensor)? {
        guard let info = parameters.first(where: { $0.name == name }) else { return nil }
        return (info, view(values, info), view(gradients, info))
    }

    public func buffer(named name: String) -> (info: ParameterInfo, value: Tensor)? {
        guard let info = buffers.first(where: { $0.name == name }) else { return nil }
        return (info, view(bufferValues, info))
    }

    private func view(_ flat: Tensor, _ info: ParameterInfo) -> Tensor {
        precondition(isAllocated, "parameter '\(info.name)' used before allocate()")
        return Tensor(view: flat.storage, offset: info.offset, shape: info.shape)
    }

    private func fill(_ pointer: UnsafeMutablePointer<Float>, _ count: Int, _ initializer: Initializer,
                      _ generator: RandomGenerator) {
        var random = generator
        switch initializer {
        case .zeros: pointer.update(repeating: 0, count: count)
        case .ones: pointer.update(repeating: 1, count: count)
        case .kaimingNormalFanOut(let fanOut):
            let std = (2.0 / Double(fanOut)).squareRoot()
            for i in 0..<count { pointer[i] = Float(random.normal() * std) }
        case .uniform(let bound):
            for i in 0..<count { pointer[i] = Float(random.uniform(-bound, bound)) }
        }
    }
}
