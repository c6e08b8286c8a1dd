import Collectives
import Engine
#if canImport(Glibc)
import Glibc
#endif

/// SimCLR's normalized temperature-scaled cross-entropy (Chen et al. 2020, "A Simple Framework for
/// Contrastive Learning of Visual Representations", eq. 1):
///
///     ℓ(i, j) = −log( exp(sim(zᵢ, zⱼ)/τ) / Σ_{k ≠ i} exp(sim(zᵢ, z_k)/τ) ),   sim(u, v) = uᵀv / (‖u‖‖v‖)
///     L = 1/(2B) Σ_{k=1..B} [ℓ(k, k+B) + ℓ(k+B, k)]
///
/// over the 2B rows `[z1; z2]` of two views of B images (`z1`, `z2`: `[B, D]`). Each of the 2B rows is
/// an *anchor* whose positive is the other view of its image and whose negatives are the other 2B − 2
/// rows; every row is also a *key* the anchors are compared with. solo-learn's `simclr_loss_func`
/// computes the same value (−mean log(pos / (pos + neg)) with the self-similarity masked).
///
/// The work is written as `anchorsAgainstKeys`: a contiguous block of anchor rows against all keys,
/// returning ∂L/∂(anchor rows) and ∂L/∂(every key row) separately. Single-process `forward` calls it
/// with every row as an anchor. The distributed loss all-gathers the normalised keys of all ranks, calls
/// it with its own rows as anchors, reduce-scatters (sums) the key gradients back to the rows' owners
/// and adds its anchor gradients: the sum over ranks is exactly the single-process gradient.
/// Similarities and their gradients are GEMMs; the softmax, its log-sum-exp and the loss are in double.
public struct NTXentLoss: Sendable {
    /// τ: 0.2 as solo-learn's CIFAR SimCLR recipe (`scripts/pretrain/cifar/simclr.yaml`).
    public var temperature: Double

    public init(temperature: Double = 0.2) {
        precondition(temperature > 0, "NT-Xent temperature must be positive, got \(temperature)")
        self.temperature = temperature
    }

    public struct Output {
        public var loss: Double
        /// ∂L/∂z1, ∂L/∂z2 `[B, D]` (through the L2 normalisation).
        public var gradZ1, gradZ2: Tensor
        public var terms: [(name: String, value: Double)] { [("nt_xent", loss)] }
    }

    /// How the gradient of the all-gathered keys goes back to the ranks that own them.
    public enum GatherBackward: Sendable {
        /// Summed over ranks and scattered to the owners (`reduceScatterSum`): the correct backward.
        case reduceScatter
        /// Each rank keeps only its own slice of its key gradient and drops what other ranks' anchors
        /// contributed: the bug some public frameworks shipped. Tests use it to prove they catch it.
        case localSliceOnly
    }

    /// The loss of two views' embeddings `z1`, `z2` `[B, D]` (not normalised) and its gradients.
    public func forward(z1: Tensor, z2: Tensor, backend: any Backend) -> Output {
        forward(z1: z1, z2: z2, group: LocalCommunicator(), backend: backend)
    }

    /// The loss over the *global* batch of `group`'s ranks, each holding `B` rows per view.
    ///
    /// This rank's block `[ẑ1; ẑ2]` (2B rows) is all-gathered into the keys `[R·2B, D]` (rank r's block at
    /// row r·2B); this rank's rows are the anchors; the key gradients of all R·2B rows are summed over the
    /// ranks and scattered back to their owners, then added to the anchor gradients. Returns the global
    /// loss (the same on every rank) and ∂L/∂z for this rank's rows: the ranks' parameter gradients *sum*
    /// to the single-process gradient on the global batch. With one rank this is the plain loss.
    public func forward(z1: Tensor, z2: Tensor, group: any Communicator,
                        gatherBackward: GatherBackward = .reduceScatter, backend: any Backend) -> Output {
        precondition(z1.rank == 2 && z1.shape == z2.shape, "NT-Xent takes two [B, D] views, got \(z1.shape) and \(z2.shape)")
        let b = z1.shape[0], d = z1.shape[1], ranks = group.worldSize
        precondition(b * ranks >= 2, "NT-Xent needs at least 2 images per batch (one has no negatives), got \(b * ranks)")
        // block [2B, D] = [ẑ1; ẑ2]: row i's positive is row (i + B) mod 2B of the same block.
        let block = Tensor(zeros: [2 * b, d])
        let norms = Tensor(zeros: [2 * b])
        backend.l2NormalizeRows(input: z1, output: block.rows(0..<b), norms: norms.rows(0..<b))
        backend.l2NormalizeRows(input: z2, output: block.rows(b..<(2 * b)), norms: norms.rows(b..<(2 * b)))
        let keys = Tensor(zeros: [ranks * 2 * b, d])
        collectiveOrExit { try group.allGather(block, into: keys) }
        let own = (group.rank * 2 * b)..<((group.rank + 1) * 2 * b)
        let gradAnchors = Tensor(zeros: [2 * b, d]), gradKeys = Tensor(zeros: [ranks * 2 * b, d])
        let partial = anchorsAgainstKeys(keys: keys, anchors: own,
                                         positives: Self.pairedPositives(batch: b, offset: own.lowerBound),
                                         normalizer: ranks * 2 * b, gradAnchors: gradAnchors, gradKeys: gradKeys,
                                         backend: backend)
        let gradBlock = Tensor(zeros: [2 * b, d])
        switch gatherBackward {
        case .reduceScatter: collectiveOrExit { try group.reduceScatterSum(gradKeys, into: gradBlock) }
        case .localSliceOnly: backend.copy(gradKeys.rows(own), to: gradBlock)
        }
        // Every row is both an anchor and a key: ∂L/∂ẑ is the sum of the two.
        backend.accumulate(gradAnchors, into: gradBlock, alpha: 1)
        let loss = collectiveOrExit { try group.allReduceSum(partial) }
        let gradZ1 = Tensor(zeros: [b, d]), gradZ2 = Tensor(zeros: [b, d])
        backend.l2NormalizeRowsBackward(gradOutput: gradBlock.rows(0..<b), output: block.rows(0..<b),
                                        norms: norms.rows(0..<b), gradInput: gradZ1)
        backend.l2NormalizeRowsBackward(gradOutput: gradBlock.rows(b..<(2 * b)), output: block.rows(b..<(2 * b)),
                                        norms: norms.rows(b..<(2 * b)), gradInput: gradZ2)
        return Output(loss: loss, gradZ1: gradZ1, gradZ2: gradZ2)
    }

    /// Positives of a block `[ẑ1 (b rows); ẑ2 (b rows)]` that starts at key row `offset`: row `offset + i`
    /// pairs with `offset + (i + b) mod 2b`. One rank's block in an all-gather of `[ẑ1; ẑ2]` blocks.
    public static func pairedPositives(batch b: Int, offset: Int = 0) -> [Int] {
        (0..<(2 * b)).map { offset + ($0 + b) % (2 * b) }
    }

    /// The core: anchors `keys[anchors]` against all `keys` `[K, D]` (L2-normalised rows).
    ///
    /// For anchor row i (global key index) with positive p(i): logits `l_ij = kᵢ·kⱼ/τ` for j ≠ i (the
    /// self-similarity is masked out), `ℓᵢ = logsumexp_{j≠i} l_ij − l_{i,p(i)}`. Returns
    /// `Σ_{i in anchors} ℓᵢ / normalizer` (normalizer = the global number of anchors, 2B, so that the blocks'
    /// returns sum to L), overwrites `gradAnchors` `[A, D]` with ∂/∂kᵢ through the anchor side,
    /// `Σⱼ (P_ij − [j = p(i)])·kⱼ / (τ·normalizer)`, and `gradKeys` `[K, D]` with ∂/∂kⱼ through the key side,
    /// `Σᵢ (P_ij − [j = p(i)])·kᵢ / (τ·normalizer)` (P = softmax over j ≠ i). An anchor's own row gets both.
    public func anchorsAgainstKeys(keys: Tensor, anchors: Range<Int>, positives: [Int], normalizer: Int,
                                   gradAnchors: Tensor, gradKeys: Tensor, backend: any Backend) -> Double {
        let k = keys.shape[0], d = keys.count / k, a = anchors.count
        precondition(anchors.lowerBound >= 0 && anchors.upperBound <= k, "NT-Xent: anchors \(anchors) outside \(k) keys")
        precondition(positives.count == a, "NT-Xent: \(a) anchors but \(positives.count) positives")
        precondition(gradAnchors.count == a * d && gradKeys.count == k * d, "NT-Xent: gradient buffers of the wrong size")
        let anchorRows = keys.rows(anchors)
        let inverseTemperature = Float(1 / temperature)
        // logits [A, K] = anchors · keysᵀ / τ; then overwritten in place with ∂L/∂logits.
        let logits = Tensor(zeros: [a, k])
        backend.gemm(transposeA: false, transposeB: true, m: a, n: k, k: d, alpha: inverseTemperature,
                     a: anchorRows, b: keys, beta: 0, c: logits)
        let scale = 1 / Double(normalizer)
        var total = 0.0
        for i in 0..<a {
            let row = logits.pointer + i * k, own = anchors.lowerBound + i, positive = positives[i]
            precondition(positive != own && positive >= 0 && positive < k, "NT-Xent: anchor \(own) has positive \(positive)")
            var peak = -Double.infinity
            for j in 0..<k where j != own { peak = max(peak, Double(row[j])) }
            var sum = 0.0
            for j in 0..<k where j != own { sum += exp(Double(row[j]) - peak) }
            let logSum = log(sum) + peak
            total += logSum - Double(row[positive])
            for j in 0..<k {
                let p = j == own ? 0 : exp(Double(row[j]) - logSum)
                row[j] = Float((p - (j == positive ? 1 : 0)) * scale)
            }
        }
        // ∂/∂anchors = dlogits · keys / τ;  ∂/∂keys = dlogitsᵀ · anchors / τ.
        backend.gemm(transposeA: false, transposeB: false, m: a, n: d, k: k, alpha: inverseTemperature,
                     a: logits, b: keys, beta: 0, c: gradAnchors)
        backend.gemm(transposeA: true, transposeB: false, m: k, n: d, k: a, alpha: inverseTemperature,
                     a: logits, b: anchorRows, beta: 0, c: gradKeys)
        return total * scale
    }
}
