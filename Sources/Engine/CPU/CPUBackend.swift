import CBLAS
#if canImport(Glibc)
import Glibc
#endif

/// The CPU backend: GEMM through OpenBLAS, everything else as plain loops split over a `ThreadPool`.
///
/// OpenBLAS runs single-threaded inside our kernels: the pool splits work into per-thread tiles and
/// each thread calls `cblas_sgemm` on its own tile, which keeps im2col tiles hot in that core's cache.
///
/// `@unchecked Sendable`: the only mutable state is `workspaces`, one scratch buffer per pool thread
/// index; a kernel's chunk `i` only touches workspace `i`, and kernels are not run concurrently.
public final class CPUBackend: Backend, @unchecked Sendable {
    public let device: Device = .cpu
    public let pool: ThreadPool
    public var threadCount: Int { pool.threadCount }
    /// Per-thread scratch (im2col tiles, partial weight gradients), grown on demand.
    var workspaces: [Workspace]
    /// Fixed im2col tile height, for tests that must exercise many tiles; nil picks it from the cache size.
    let fixedTileRows: Int?

    public init(threads: Int = CPUBackend.defaultThreadCount, tileRows: Int? = nil) {
        pool = ThreadPool(threadCount: max(1, threads))
        fixedTileRows = tileRows
        workspaces = (0..<max(1, threads)).map { _ in Workspace() }
        openblas_set_num_threads(1)
    }

    /// Online CPU count.
    public static var defaultThreadCount: Int { max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))) }

    public func zeros(_ shape: [Int]) -> Tensor { Tensor(zeros: shape) }

    public func fill(_ tensor: Tensor, with value: Float) {
        let pointer = tensor.pointer
        pool.parallelFor(tensor.count, grain: 1 << 16) { _, range in
            (pointer + range.lowerBound).update(repeating: value, count: range.count)
        }
    }

    public func onHost(_ tensor: Tensor) -> Tensor { tensor }

    public func upload(_ source: Tensor, to destination: Tensor) {
        if source.storage === destination.storage && source.offset == destination.offset { return }
        copy(source, to: destination)
    }

    public func download(_ source: Tensor, to destination: Tensor) { upload(source, to: destination) }

    public func copy(_ source: Tensor, to destination: Tensor) {
        precondition(source.count == destination.count, "copy: \(source.shape) into \(destination.shape)")
        let from = source.pointer, to = destination.pointer
        pool.parallelFor(source.count, grain: 1 << 16) { _, range in
            (to + range.lowerBound).update(from: from + range.lowerBound, count: range.count)
        }
    }

    public func gemm(transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int,
                     alpha: Float, a: Tensor, b: Tensor, beta: Float, c: Tensor) {
        precondition(a.count >= m * k && b.count >= k * n && c.count >= m * n, "gemm: operands too small")
        // Split the rows of C over the pool; each thread runs a single-threaded sgemm.
        let lda = transposeA ? m : k, ldb = transposeB ? k : n
        let pa = a.pointer, pb = b.pointer, pc = c.pointer
        pool.parallelFor(m, grain: 64) { _, rows in
            let aStart = transposeA ? pa + rows.lowerBound : pa + rows.lowerBound * lda
            sgemm(transposeA: transposeA, transposeB: transposeB, m: rows.count, n: n, k: k, alpha: alpha,
                  a: aStart, lda: lda, b: pb, ldb: ldb, beta: beta, c: pc + rows.lowerBound * n, ldc: n)
        }
    }
}

/// Row-major `cblas_sgemm` with Swift labels.
@inline(__always)
func sgemm(transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, alpha: Float,
           a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
           beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
    if m == 0 || n == 0 { return }
    cblas_sgemm(CblasRowMajor, transposeA ? CblasTrans : CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans,
                blasint(m), blasint(n), blasint(k), alpha, a, blasint(lda), b, blasint(ldb), beta, c, blasint(ldc))
}

/// A growable scratch buffer owned by one pool thread.
final class Workspace {
    private(set) var pointer: UnsafeMutablePointer<Float>
    private(set) var capacity: Int

    init() {
        capacity = 0
        pointer = UnsafeMutablePointer<Float>.allocate(capacity: 1)
    }

    /// At least `count` floats; contents are undefined.
    func buffer(_ count: Int) -> UnsafeMutablePointer<Float> {
        if count > capacity {
            pointer.deallocate()
            capacity = count
            pointer = UnsafeMutablePointer<Float>.allocate(capacity: count)
        }
        return pointer
    }

    deinit { pointer.deallocate() }
}
