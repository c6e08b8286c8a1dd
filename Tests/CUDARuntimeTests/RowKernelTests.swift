@testable import CUDARuntime
import Engine
import GPUEmulation
import XCTest

/// The row family on the CPU emulator, with the backend's launch shapes, against the CPU backend: L2
/// normalisation forward and backward for 8 columns (one warp, most threads idle) and 300 (several warps,
/// the double block sums), with a zero row whose norm is clamped; the diagonal fill; VICReg's covariance
/// regulariser for 6 and 70 dimensions (some variance hinges active, some not).
final class RowKernelTests: XCTestCase {
    let cpu = CPUBackend(threads: 1)

    func testL2NormalisationAndDiagonalMatchTheCPU() throws {
        let emulator = try KernelEmulator.of(rowKernels)
        for columns in [8, 300] {
            let rows = 5
            var x = EmulatedKernels.values(rows * columns, seed: 80 + UInt64(columns), -3, 3)
            for j in 0..<columns { x[2 * columns + j] = 0 }
            let dy = EmulatedKernels.values(rows * columns, seed: 90 + UInt64(columns))
            let y = Tensor(zeros: [rows, columns]), norms = Tensor(zeros: [rows]), dx = Tensor(zeros: [rows, columns])
            cpu.l2NormalizeRows(input: Tensor(shape: [rows, columns], values: x), output: y, norms: norms)
            cpu.l2NormalizeRowsBackward(gradOutput: Tensor(shape: [rows, columns], values: dy), output: y, norms: norms, gradInput: dx)
            let xs = GuardedBuffer("x", floats: x), ys = GuardedBuffer("y", bytes: 4 * rows * columns)
            let normBuffer = GuardedBuffer("norms", bytes: 4 * rows), dys = GuardedBuffer("dy", floats: dy)
            let dxs = GuardedBuffer("dx", bytes: 4 * rows * columns)
            try EmulatedKernels.run(emulator, [
                RowLaunch.l2Normalize(input: xs.address, output: ys.address, norms: normBuffer.address, rows: rows, columns: columns),
                RowLaunch.l2NormalizeBackward(gradOutput: dys.address, output: ys.address, norms: normBuffer.address,
                                              gradInput: dxs.address, rows: rows, columns: columns),
            ], buffers: [xs, ys, normBuffer, dys, dxs])
            XCTAssertLessThan(EmulatedKernels.relativeError(ys.floats(), y.array), 1e-6, "\(columns) columns: forward")
            XCTAssertLessThan(EmulatedKernels.relativeError(normBuffer.floats(), norms.array), 1e-6, "\(columns) columns: norms")
            XCTAssertEqual(normBuffer.floats()[2], 1e-12, "the zero row's norm is clamped")
            XCTAssertLessThan(EmulatedKernels.relativeError(dxs.floats(), dx.array), 1e-6, "\(columns) columns: backward")
        }
        let square = GuardedBuffer("square", floats: (0..<16).map(Float.init))
        try EmulatedKernels.run(emulator, [RowLaunch.fillDiagonal(square.address, size: 4, with: -.infinity)], buffers: [square])
        XCTAssertEqual(square.floats(), (0..<16).map { $0 % 5 == 0 ? -.infinity : Float($0) })
    }

    func testCovarianceRegularizerMatchesTheCPU() throws {
        let emulator = try KernelEmulator.of(rowKernels)
        for d in [6, 70] {
            let rows = 9
            let z = Tensor(shape: [rows, d], values: EmulatedKernels.values(rows * d, seed: 100 + UInt64(d), -2, 2)
                .enumerated().map { $0.offset % d < d / 2 ? $0.element * 3 : $0.element / 3 })
            let scatter = Tensor(zeros: [d, d])
            cpu.gemm(transposeA: true, transposeB: false, m: d, n: d, k: rows, alpha: 1, a: z, b: z, beta: 0, c: scatter)
            let gradient = Tensor(zeros: [d, d]), terms = Tensor(zeros: [d, 2])
            cpu.covarianceRegularizer(scatter: scatter, count: rows, epsilon: 1e-4, varianceWeight: 25, covarianceWeight: 1,
                                      gradient: gradient, rowTerms: terms)
            XCTAssertTrue(terms.array.enumerated().contains { $0.offset % 2 == 0 && $0.element > 0 }, "an active hinge")
            XCTAssertTrue(terms.array.enumerated().contains { $0.offset % 2 == 0 && $0.element == 0 }, "an inactive hinge")
            let s = GuardedBuffer("S", floats: scatter.array), g = GuardedBuffer("G", floats: [Float](repeating: 9, count: d * d))
            let t = GuardedBuffer("terms", floats: [Float](repeating: 9, count: 2 * d))
            try EmulatedKernels.run(emulator, [RowLaunch.covarianceRegularizer(
                scatter: s.address, gradient: g.address, rowTerms: t.address, size: d, count: rows, epsilon: 1e-4,
                varianceWeight: 25, covarianceWeight: 1)], buffers: [s, g, t])
            XCTAssertEqual(g.floats(), gradient.array, "\(d) dimensions: G")
            XCTAssertLessThan(EmulatedKernels.relativeError(t.floats(), terms.array), 1e-6, "\(d) dimensions: row terms")
        }
    }
}
