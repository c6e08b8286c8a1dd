#if canImport(Glibc)
import Glibc
#endif

/// Eigenvalues and eigenvectors of a symmetric matrix by the cyclic Jacobi method (Golub & Van Loan,
/// "Matrix Computations", 4th ed., section 8.5): plane rotations zero each off-diagonal entry in turn
/// until the off-diagonal mass is negligible. O(D³) per sweep, a handful of sweeps; exact to rounding,
/// which is what PCA of a few hundred feature dimensions needs.
struct SymmetricEigen {
    /// Eigenvalues, largest first.
    let values: [Double]
    /// `[D, D]` row-major; column k is the unit eigenvector of `values[k]`.
    let vectors: [Double]

    /// Decomposes `matrix` (`[D, D]` row-major, symmetric).
    init(_ matrix: [Double], dimension d: Int) {
        precondition(matrix.count == d * d, "expected a \(d)x\(d) matrix")
        var a = matrix
        var v = [Double](repeating: 0, count: d * d)
        for i in 0..<d { v[i * d + i] = 1 }
        var total = 0.0
        for value in a { total += value * value }
        for _ in 0..<100 {
            var off = 0.0
            for i in 0..<d { for j in 0..<d where j != i { off += a[i * d + j] * a[i * d + j] } }
            if off <= 1e-30 * total || off == 0 { break }
            for p in 0..<d {
                for q in (p + 1)..<max(p + 1, d) where a[p * d + q] != 0 {
                    // The rotation that zeroes a_pq (Golub & Van Loan, Algorithm 8.5.1).
                    let tau = (a[q * d + q] - a[p * d + p]) / (2 * a[p * d + q])
                    let t = (tau >= 0 ? 1 : -1) / (abs(tau) + (1 + tau * tau).squareRoot())
                    let c = 1 / (1 + t * t).squareRoot(), s = t * c
                    for k in 0..<d {  // A ← A J (columns p, q)
                        let akp = a[k * d + p], akq = a[k * d + q]
                        a[k * d + p] = c * akp - s * akq
                        a[k * d + q] = s * akp + c * akq
                    }
                    for k in 0..<d {  // A ← Jᵀ A (rows p, q)
                        let apk = a[p * d + k], aqk = a[q * d + k]
                        a[p * d + k] = c * apk - s * aqk
                        a[q * d + k] = s * apk + c * aqk
                    }
                    for k in 0..<d {  // V ← V J
                        let vkp = v[k * d + p], vkq = v[k * d + q]
                        v[k * d + p] = c * vkp - s * vkq
                        v[k * d + q] = s * vkp + c * vkq
                    }
                }
            }
        }
        let order = (0..<d).sorted { a[$0 * d + $0] > a[$1 * d + $1] }
        values = order.map { a[$0 * d + $0] }
        var sorted = [Double](repeating: 0, count: d * d)
        for (column, source) in order.enumerated() {
            for k in 0..<d { sorted[k * d + column] = v[k * d + source] }
        }
        vectors = sorted
    }
}
