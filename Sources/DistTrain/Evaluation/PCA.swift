/// Principal component analysis of `[N, D]` rows: centre, covariance (float64), Jacobi eigenvectors.
///
/// Each component's sign is fixed so that its largest-magnitude loading is positive (scikit-learn's
/// `svd_flip` convention, so the projection does not depend on the solver's sign choices).
struct PCA {
    let mean: [Double]
    /// `[K, D]`: component k is row k, by decreasing explained variance.
    let components: [Double]
    /// Variance along each component (eigenvalues of the covariance with divisor N − 1).
    let explainedVariance: [Double]
    let dimension: Int

    var componentCount: Int { explainedVariance.count }

    /// The first `k` (≤ D) principal components of `x`.
    init(_ x: [Double], count n: Int, dimension d: Int, components k: Int) {
        precondition(x.count == n * d && n >= 2 && k >= 1 && k <= d, "PCA of \(n)x\(d) to \(k) components")
        dimension = d
        var mean = [Double](repeating: 0, count: d)
        for i in 0..<n { for j in 0..<d { mean[j] += x[i * d + j] } }
        for j in 0..<d { mean[j] /= Double(n) }
        var covariance = [Double](repeating: 0, count: d * d)
        var centred = [Double](repeating: 0, count: d)
        for i in 0..<n {
            for j in 0..<d { centred[j] = x[i * d + j] - mean[j] }
            for a in 0..<d where centred[a] != 0 {
                for b in a..<d { covariance[a * d + b] += centred[a] * centred[b] }
            }
        }
        for a in 0..<d {
            for b in a..<d {
                covariance[a * d + b] /= Double(n - 1)
                covariance[b * d + a] = covariance[a * d + b]
            }
        }
        let eigen = SymmetricEigen(covariance, dimension: d)
        var components = [Double](repeating: 0, count: k * d)
        for c in 0..<k {
            var largest = 0
            for j in 0..<d where abs(eigen.vectors[j * d + c]) > abs(eigen.vectors[largest * d + c]) { largest = j }
            let sign: Double = eigen.vectors[largest * d + c] < 0 ? -1 : 1
            for j in 0..<d { components[c * d + j] = sign * eigen.vectors[j * d + c] }
        }
        self.mean = mean
        self.components = components
        explainedVariance = Array(eigen.values.prefix(k))
    }

    /// `[N, K]`: the rows of `x` centred and projected on the components.
    func transform(_ x: [Double], count n: Int) -> [Double] {
        let d = dimension, k = componentCount
        var out = [Double](repeating: 0, count: n * k)
        for i in 0..<n {
            for c in 0..<k {
                var sum = 0.0
                for j in 0..<d { sum += (x[i * d + j] - mean[j]) * components[c * d + j] }
                out[i * k + c] = sum
            }
        }
        return out
    }
}
