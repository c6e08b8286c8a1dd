@testable import CUDARuntime
import Engine
import GPUEmulation
import XCTest

/// The row family on the CPU emulator, with the backend's launch shapes, against the CPU backend: L2
/// normalisation forward and backward for 8 columns (one warp, most threads idle) and 300 (several warps,
/// the double block sums), with a zero row whose norm is clamped; and the diagonal fill.
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
}
