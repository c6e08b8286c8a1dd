import Collectives
import Engine

/// The collapse monitor solo-learn logs as `z_std`: the standard deviation over the batch (unbiased,
/// `torch.std`'s default) of the L2-normalised embeddings, averaged over the D dimensions,
/// `F.normalize(z, dim=-1).std(dim=0).mean()`. About 1/√D for well-spread embeddings, 0 when collapsed.
/// Monitor only: no gradient. In double.
public enum EmbeddingStd {
    /// The monitor over the global batch: `z` `[B, D]` is this rank's share; the rows of all ranks are gathered.
    public static func of(_ z: Tensor, group: any Communicator) -> Double {
        guard group.worldSize > 1 else { return of(z) }
        let all = Tensor(zeros: [z.shape[0] * group.worldSize, z.shape[1]])
        collectiveOrExit { try group.allGather(z, into: all) }
        return of(all)
    }

    public static func of(_ z: Tensor) -> Double {
        precondition(z.rank == 2 && z.shape[0] >= 2, "embedding std needs [B ≥ 2, D], got \(z.shape)")
        let b = z.shape[0], d = z.shape[1], p = z.pointer
        var normalized = [Double](repeating: 0, count: b * d)
        for row in 0..<b {
            var sum = 0.0
            for j in 0..<d { let v = Double(p[row * d + j]); sum += v * v }
            let norm = max(sum.squareRoot(), 1e-12)  // F.normalize's ε, as Backend.l2NormalizeRows
            for j in 0..<d { normalized[row * d + j] = Double(p[row * d + j]) / norm }
        }
        var total = 0.0
        for j in 0..<d {
            var mean = 0.0
            for row in 0..<b { mean += normalized[row * d + j] }
            mean /= Double(b)
            var squares = 0.0
            for row in 0..<b { let c = normalized[row * d + j] - mean; squares += c * c }
            total += (squares / Double(b - 1)).squareRoot()
        }
        return total / Double(d)
    }
}
