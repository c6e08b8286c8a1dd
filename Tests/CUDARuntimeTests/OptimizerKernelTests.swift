@testable import CUDARuntime
import Engine
import Models
import GPUEmulation
import XCTest

/// The optimiser family on the CPU emulator, with the backend's launch shapes, against the CPU backend
/// and Models' LARS: two steps each, so the momentum buffers matter.
final class OptimizerKernelTests: XCTestCase {
    let cpu = CPUBackend(threads: 1)

    func testSGDWithAndWithoutNesterovMatchesTheCPU() throws {
        let emulator = try KernelEmulator.of(optimizerKernels)
        let n = 1000
        let start = EmulatedKernels.values(n, seed: 41), gradients = [EmulatedKernels.values(n, seed: 42), EmulatedKernels.values(n, seed: 43)]
        for nesterov in [false, true] {
            let p = Tensor(shape: [n], values: start), v = Tensor(zeros: [n])
            let ps = GuardedBuffer("p", floats: start), vs = GuardedBuffer("v", floats: [Float](repeating: 0, count: n))
            for g in gradients {
                cpu.sgdStep(parameters: p, gradients: Tensor(shape: [n], values: g), momentumBuffer: v, learningRate: 0.1,
                            momentum: 0.9, weightDecay: 5e-4, nesterov: nesterov)
                let gs = GuardedBuffer("g", floats: g)
                try EmulatedKernels.run(emulator, [OptimizerLaunch.sgd(parameters: ps.address, gradients: gs.address,
                                                                       momentumBuffer: vs.address, count: n, learningRate: 0.1,
                                                                       momentum: 0.9, weightDecay: 5e-4, nesterov: nesterov)],
                                        buffers: [ps, gs, vs])
            }
            XCTAssertLessThan(EmulatedKernels.relativeError(ps.floats(), p.array), 1e-6, "nesterov \(nesterov): parameters")
            XCTAssertLessThan(EmulatedKernels.relativeError(vs.floats(), v.array), 1e-6, "nesterov \(nesterov): momentum")
        }
    }

    /// Weights (adapted) and biases (plain momentum SGD) of several sizes, one of them larger than a step
    /// block's 256 elements times several chunks, one weight with a zero gradient (ratio 1, no decay), and
    /// per-tensor learning-rate multipliers (×10 on an adapted weight, where the clip uses its own rate).
    func testLARSMatchesModelsLARSWithClippingAndExclusions() throws {
        let emulator = try KernelEmulator.of(optimizerKernels)
        for clip in [true, false] {
            let store = ParameterStore()
            for (name, shape, role) in [("a.weight", [40, 30], ParameterRole.weight), ("a.bias", [40], .bias),
                                        ("b.weight", [7, 5], .weight), ("bn.weight", [16], .normScale),
                                        ("frozen.weight", [9], .weight), ("c.weight", [300], .weight)] {
                _ = store.register(name, shape: shape, role: role, initializer: .uniform(bound: 0.3))
            }
            store.allocate(seed: 5)
            let lars = LARS(store: store, backend: cpu, learningRate: 0.8, momentum: 0.9, weightDecay: 1e-3,
                            trustCoefficient: 0.02, clipLearningRate: clip,
                            multipliers: LearningRateMultipliers([("b.", 10), ("a.bias", 0.5)]))
            let offsets = store.parameters.map { Int64($0.offset) } + [Int64(store.count)]
            let adapted = store.parameters.map { Int32(lars.isAdapted($0.role) ? 1 : 0) }
            let scales = GuardedBuffer("scales", floats: store.parameters.map { lars.multipliers.multiplier(for: $0.name) })
            let ps = GuardedBuffer("p", floats: store.values.array)
            let vs = GuardedBuffer("v", floats: [Float](repeating: 0, count: store.count))
            let offsetBuffer = GuardedBuffer("offsets", integers: offsets), adaptedBuffer = GuardedBuffer("adapted", integers: adapted)
            let norms = GuardedBuffer("norms", bytes: store.parameters.count * 16)
            let frozen = store.parameter(named: "frozen.weight")!.info
            for step in 0..<2 {
                var g = EmulatedKernels.values(store.count, seed: 50 + UInt64(step), -0.05, 0.05)
                for i in frozen.offset..<(frozen.offset + frozen.count) { g[i] = 0 }
                for i in 0..<store.count { store.gradients[flat: i] = g[i] }
                lars.step()
                let gs = GuardedBuffer("g", floats: g)
                try EmulatedKernels.run(emulator, OptimizerLaunch.lars(
                    parameters: ps.address, gradients: gs.address, momentumBuffer: vs.address, offsets: offsetBuffer.address,
                    adapted: adaptedBuffer.address, learningRateScales: scales.address, norms: norms.address,
                    tensorCount: store.parameters.count,
                    largestTensor: store.parameters.map(\.count).max()!, learningRate: 0.8, momentum: 0.9,
                    weightDecay: 1e-3, trustCoefficient: 0.02, epsilon: lars.epsilon, clipLearningRate: clip),
                    buffers: [ps, gs, vs, offsetBuffer, adaptedBuffer, scales, norms])
            }
            XCTAssertLessThan(EmulatedKernels.relativeError(ps.floats(), store.values.array), 1e-6, "clip \(clip): parameters")
            XCTAssertLessThan(EmulatedKernels.relativeError(vs.floats(), lars.velocity.array), 1e-6, "clip \(clip): momentum")
        }
    }

    /// `LARS.step()` on the GPU backend takes the fused path (two launches over the whole buffer, no norm
    /// read back by the host) and matches `LARS` on the CPU, tensor by tensor, over two steps, with
    /// exclusions, a zero gradient and learning-rate multipliers.
    func testLARSOnTheGPUBackendIsFusedAndMatchesTheCPU() throws {
        let device = EmulatedGPU(), gpu = CUDABackend(device: device)
        func make(_ backend: any Backend) -> (ParameterStore, LARS) {
            let store = ParameterStore()
            for (name, shape, role) in [("a.weight", [40, 30], ParameterRole.weight), ("a.bias", [40], .bias),
                                        ("b.weight", [7, 5], .weight), ("bn.weight", [16], .normScale),
                                        ("frozen.weight", [9], .weight), ("c.weight", [300], .weight)] {
                _ = store.register(name, shape: shape, role: role, initializer: .uniform(bound: 0.3))
            }
            store.allocate(seed: 5, backend: backend)
            return (store, LARS(store: store, backend: backend, learningRate: 0.8, momentum: 0.9, weightDecay: 1e-3,
                                multipliers: LearningRateMultipliers([("b.", 10)])))
        }
        let (cpuStore, cpuLARS) = make(cpu), (gpuStore, gpuLARS) = make(gpu)
        let frozen = cpuStore.parameter(named: "frozen.weight")!.info
        for step in 0..<2 {
            var g = EmulatedKernels.values(cpuStore.count, seed: 70 + UInt64(step), -0.05, 0.05)
            for i in frozen.offset..<(frozen.offset + frozen.count) { g[i] = 0 }
            cpuStore.gradients.assign(from: Tensor(shape: [g.count], values: g))
            gpu.upload(Tensor(shape: [g.count], values: g), to: gpuStore.gradients)
            cpuLARS.step()
            let before = device.launches.count
            gpuLARS.step()
            XCTAssertEqual(device.launches[before...].map(\.kernel), ["lars_squared_norms", "lars_step"], "one fused step")
        }
        XCTAssertLessThan(EmulatedKernels.relativeError(gpu.download(gpuStore.values), cpuStore.values.array), 1e-6, "parameters")
        XCTAssertLessThan(EmulatedKernels.relativeError(gpu.download(gpuLARS.velocity), cpuLARS.velocity.array), 1e-6, "momentum")
    }

    func testEMAUpdateMatchesTheFormula() throws {
        let emulator = try KernelEmulator.of(optimizerKernels)
        let n = 777, tau: Float = 0.996
        let target = EmulatedKernels.values(n, seed: 61), online = EmulatedKernels.values(n, seed: 62)
        let targets = GuardedBuffer("target", floats: target), onlines = GuardedBuffer("online", floats: online)
        try EmulatedKernels.run(emulator, [OptimizerLaunch.ema(target: targets.address, online: onlines.address, count: n, tau: tau)],
                                buffers: [targets, onlines])
        let expected = (0..<n).map { Float(Double(tau) * Double(target[$0]) + (1 - Double(tau)) * Double(online[$0])) }
        XCTAssertLessThan(EmulatedKernels.relativeError(targets.floats(), expected), 1e-6)
        XCTAssertEqual(onlines.floats(), online, "the online parameters are read only")
    }

    func testAdamWMatchesTheCPUOverThreeSteps() throws {
        let emulator = try KernelEmulator.of(optimizerKernels)
        let n = 1000
        let start = EmulatedKernels.values(n, seed: 63)
        let p = Tensor(shape: [n], values: start), m = Tensor(zeros: [n]), v = Tensor(zeros: [n])
        let ps = GuardedBuffer("p", floats: start), ms = GuardedBuffer("m", bytes: n * 4), vs = GuardedBuffer("v", bytes: n * 4)
        ms.pointer.initializeMemory(as: Float.self, repeating: 0, count: n)
        vs.pointer.initializeMemory(as: Float.self, repeating: 0, count: n)
        for step in 1...3 {
            let g = EmulatedKernels.values(n, seed: 64 + UInt64(step), -0.1, 0.1)
            cpu.adamwStep(parameters: p, gradients: Tensor(shape: [n], values: g), firstMoment: m, secondMoment: v,
                          learningRate: 1e-3, beta1: 0.9, beta2: 0.999, epsilon: 1e-8, weightDecay: 0.05, step: step)
            let gs = GuardedBuffer("g", floats: g)
            try EmulatedKernels.run(emulator, [OptimizerLaunch.adamw(
                parameters: ps.address, gradients: gs.address, firstMoment: ms.address, secondMoment: vs.address, count: n,
                learningRate: 1e-3, beta1: 0.9, beta2: 0.999, epsilon: 1e-8, weightDecay: 0.05, step: step)],
                buffers: [ps, gs, ms, vs])
        }
        XCTAssertLessThan(EmulatedKernels.relativeError(ps.floats(), p.array), 1e-6, "parameters")
        XCTAssertLessThan(EmulatedKernels.relativeError(ms.floats(), m.array), 1e-6, "first moment")
        XCTAssertLessThan(EmulatedKernels.relativeError(vs.floats(), v.array), 1e-6, "second moment")
    }
}
