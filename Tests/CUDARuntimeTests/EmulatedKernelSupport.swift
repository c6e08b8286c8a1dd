@testable import CUDARuntime
import Engine
import GPUEmulation
import XCTest

/// Shared pieces of the emulated-kernel tests: inputs, the CPU reference, and comparisons.
enum EmulatedKernels {
    /// `count` values uniform in [low, high), reproducible per `seed`.
    static func values(_ count: Int, seed: UInt64, _ low: Double = -1, _ high: Double = 1) -> [Float] {
        var random = RandomGenerator(seed: seed)
        return (0..<count).map { _ in Float(random.uniform(low, high)) }
    }

    /// The values rounded to bf16 and back, so fp32 and bf16 runs see the same numbers.
    static func bf16Representable(_ values: [Float]) -> [Float] { values.map { floatFromBF16(bf16Bits($0)) } }

    /// `‖got − expected‖∞ / ‖expected‖∞`: the error relative to the tensor's scale (the measure).
    static func relativeError(_ got: [Float], _ expected: [Float]) -> Double {
        precondition(got.count == expected.count, "\(got.count) values against \(expected.count)")
        var difference = 0.0, scale = 0.0
        for (a, b) in zip(got, expected) {
            difference = max(difference, abs(Double(a) - Double(b)))
            scale = max(scale, abs(Double(b)))
        }
        return got.contains { !$0.isFinite } ? .infinity : difference / max(scale, 1e-30)
    }

    /// Runs `launches` on `emulator`, then checks every buffer's guards.
    static func run(_ emulator: KernelEmulator, _ launches: [KernelLaunch], buffers: [GuardedBuffer]) throws {
        try emulator.launch(launches)
        for buffer in buffers { try buffer.checkGuards() }
    }

    /// A buffer of `type` holding `values` (bf16: rounded).
    static func activations(_ name: String, _ values: [Float], _ type: ActivationType) -> GuardedBuffer {
        type == .f32 ? GuardedBuffer(name, floats: values) : GuardedBuffer(name, bf16: values.map(bf16Bits))
    }

    /// A buffer's activations as floats.
    static func read(_ buffer: GuardedBuffer, _ type: ActivationType) -> [Float] {
        type == .f32 ? buffer.floats() : buffer.bf16().map(floatFromBF16)
    }
}
