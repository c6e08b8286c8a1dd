import Engine
#if canImport(Glibc)
import Glibc
#endif

/// Weighted k-nearest-neighbour classification on L2-normalised features (Wu et al. 2018, InstDisc,
/// eq. 7; solo-learn's defaults k = 200, T = 0.07): each of the k most cosine-similar training samples
/// votes for its class with weight exp(similarity / T); the class with the largest total wins.
struct WeightedKNN {
    var k = 200
    var temperature = 0.07
    /// Test rows scored per GEMM: bounds the similarity block to `chunk × N` floats.
    var chunk = 256

    /// Top-1 accuracy of `test` classified against `train` (features `[N, F]`, labels class indices):
    /// the class with the largest vote total (the first on ties) against `testLabels`.
    func accuracy(train: Tensor, trainLabels: [Int32], test: Tensor, testLabels: [Int32], classCount: Int,
                  backend: any Backend) -> Double {
        let votes = self.votes(train: train, trainLabels: trainLabels, test: test, classCount: classCount, backend: backend)
        return ClassificationMetrics(task: .multiClass, scores: votes, labels: testLabels, classCount: classCount).accuracy
    }

    /// Vote totals `[M, classCount]` of each test row: Σ exp(similarity / T) over its k nearest training rows, per class.
    func votes(train: Tensor, trainLabels: [Int32], test: Tensor, classCount: Int, backend: any Backend) -> [Double] {
        let f = train.shape[1], n = train.shape[0], m = test.shape[0]
        let trainUnit = normalizedRows(train), testUnit = normalizedRows(test)
        let neighbours = min(k, n)
        let similarities = backend.zeros([min(chunk, m), n])
        var votes = [Double](repeating: 0, count: m * classCount)
        var start = 0
        while start < m {
            let rows = min(chunk, m - start)
            let block = Tensor(view: testUnit.storage, offset: start * f, shape: [rows, f])
            let scores = Tensor(view: similarities.storage, offset: 0, shape: [rows, n])
            backend.gemm(transposeA: false, transposeB: true, m: rows, n: n, k: f, alpha: 1,
                         a: block, b: trainUnit, beta: 0, c: scores)
            for row in 0..<rows {
                let top = largest(neighbours, in: scores.pointer + row * n, count: n)
                for index in top {
                    votes[(start + row) * classCount + Int(trainLabels[index])] += exp(Double(scores.pointer[row * n + index]) / temperature)
                }
            }
            start += rows
        }
        return votes
    }

    /// Indices of the `k` largest of `count` values (unordered), by quickselect on a copy.
    func largest(_ k: Int, in values: UnsafePointer<Float>, count: Int) -> ArraySlice<Int> {
        var indices = Array(0..<count)
        var low = 0, high = count - 1
        let target = k - 1
        var random = RandomGenerator(seed: UInt64(count))
        while low < high {
            let pivot = values[indices[low + random.integer(below: high - low + 1)]]
            var i = low, j = high
            while i <= j {
                while values[indices[i]] > pivot { i += 1 }
                while values[indices[j]] < pivot { j -= 1 }
                if i <= j { indices.swapAt(i, j); i += 1; j -= 1 }
            }
            if target <= j { high = j } else if target >= i { low = i } else { break }
        }
        return indices[0..<k]
    }

    private func normalizedRows(_ t: Tensor) -> Tensor {
        let rows = t.shape[0], f = t.shape[1]
        let out = Tensor(zeros: t.shape)
        for r in 0..<rows {
            var norm = 0.0
            for j in 0..<f { norm += Double(t.pointer[r * f + j]) * Double(t.pointer[r * f + j]) }
            let scale = Float(1 / max(norm.squareRoot(), 1e-12))
            for j in 0..<f { out.pointer[r * f + j] = t.pointer[r * f + j] * scale }
        }
        return out
    }
}
