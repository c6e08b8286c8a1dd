/// Area under the ROC curve of one binary problem, as scikit-learn's `roc_auc_score` computes it:
/// the probability that a random positive scores above a random negative, a tied pair counting 1/2
/// (the Mann-Whitney U statistic over positives × negatives; equal to the trapezoidal area under
/// sklearn's `roc_curve`, which steps diagonally through tied scores).
///
/// Computed from average ranks: sort the scores, give every run of tied scores the mean of its ranks,
/// then `AUC = (Σ ranks of positives − P(P + 1)/2) / (P·Q)` for P positives and Q negatives.
///
/// - Parameters:
///   - positive: `[N]`, whether sample i is in the positive class.
///   - scores: `[N]`, larger means "more positive".
/// - Returns: the AUC in [0, 1], or nil when only one class is present (sklearn ≥ 1.6 returns NaN
///   with an `UndefinedMetricWarning` there; older versions raised `ValueError`).
func rocAUC(positive: [Bool], scores: [Double]) -> Double? {
    precondition(positive.count == scores.count, "rocAUC: \(positive.count) labels for \(scores.count) scores")
    let positives = positive.reduce(0) { $0 + ($1 ? 1 : 0) }
    let negatives = positive.count - positives
    guard positives > 0, negatives > 0 else { return nil }
    let order = scores.indices.sorted { scores[$0] < scores[$1] }
    var rankSum = 0.0
    var start = 0
    while start < order.count {
        var end = start + 1
        while end < order.count && scores[order[end]] == scores[order[start]] { end += 1 }
        // Ranks start..<end (1-based: start+1 ... end) share their mean.
        let meanRank = Double(start + 1 + end) / 2
        for i in start..<end where positive[order[i]] { rankSum += meanRank }
        start = end
    }
    let p = Double(positives), q = Double(negatives)
    return (rankSum - p * (p + 1) / 2) / (p * q)
}
