// Row-wise operations for losses on a device (the CPU backend's versions are their reference).

extension CPUBackend {
    public func l2NormalizeRows(input: Tensor, output: Tensor, norms: Tensor) {
        let rows = norms.count, d = input.count / max(rows, 1)
        precondition(input.count == rows * d && output.count == input.count, "l2NormalizeRows: \(input.shape), \(norms.shape)")
        let x = input.pointer, y = output.pointer, n = norms.pointer
        for row in 0..<rows {
            var sum = 0.0
            for j in 0..<d { let v = Double(x[row * d + j]); sum += v * v }
            let norm = max(sum.squareRoot(), 1e-12)
            for j in 0..<d { y[row * d + j] = Float(Double(x[row * d + j]) / norm) }
            n[row] = Float(norm)
        }
    }

    public func l2NormalizeRowsBackward(gradOutput: Tensor, output: Tensor, norms: Tensor, gradInput: Tensor) {
        let rows = norms.count, d = output.count / max(rows, 1)
        let g = gradOutput.pointer, y = output.pointer, n = norms.pointer, dx = gradInput.pointer
        for row in 0..<rows {
            let norm = Double(n[row])
            var dot = 0.0
            if norm > 1e-12 { for j in 0..<d { dot += Double(y[row * d + j]) * Double(g[row * d + j]) } }
            for j in 0..<d { dx[row * d + j] = Float((Double(g[row * d + j]) - Double(y[row * d + j]) * dot) / norm) }
        }
    }

    public func covarianceRegularizer(scatter: Tensor, count: Int, epsilon: Double, varianceWeight: Double,
                                      covarianceWeight: Double, gradient: Tensor, rowTerms: Tensor) {
        let d = scatter.shape[0]
        precondition(scatter.count == d * d && gradient.count == d * d && rowTerms.count == 2 * d && count >= 2,
                     "covarianceRegularizer: \(scatter.shape), \(gradient.shape), \(rowTerms.shape), \(count) rows")
        let s = scatter.pointer, g = gradient.pointer, terms = rowTerms.pointer
        let unbias = 1 / Double(count - 1), dims = Double(d)
        // Each row writes only its own G row and terms: the same result on any number of threads.
        pool.parallelFor(d, grain: 64) { _, rows in
            for i in rows {
                var covariance = 0.0
                for j in 0..<d where j != i {
                    let c = Double(s[i * d + j]) * unbias
                    covariance += c * c
                    g[i * d + j] = Float(covarianceWeight * 2 * c / dims)
                }
                let std = (Double(s[i * d + i]) * unbias + epsilon).squareRoot()
                // relu(1 − std) is active below 1; PyTorch's relu has gradient 0 at 0.
                g[i * d + i] = std < 1 ? Float(-varianceWeight / 2 / (2 * dims * std)) : 0
                terms[2 * i] = Float(max(0, 1 - std))
                terms[2 * i + 1] = Float(covariance)
            }
        }
    }

    public func fillDiagonal(_ matrix: Tensor, with value: Float) {
        let n = matrix.shape[0]
        precondition(matrix.count == n * n, "fillDiagonal: \(matrix.shape) is not square")
        for i in 0..<n { matrix.pointer[i * n + i] = value }
    }
}
