import Engine

/// The offline linear probe protocol: for each weight decay, fit `LinearClassifier` on the training
/// features and score the validation features; choose the weight decay with the best validation score
/// (mean AUC for multi-label data, accuracy otherwise; a tie goes to the lower validation loss, since
/// accuracy ignores how far a strong decay shrinks the logits); refit with it
/// on training + validation features (unless `retrainWithValidation` is off: then the chosen model as
/// fitted on the training features); report the test metrics. Each fit standardises with the
/// statistics of the features it is fitted on.
struct LinearEvaluation {
    var weightDecays: [Double] = [0, 1e-6, 1e-5, 1e-4, 1e-3, 1e-2]
    var solver = LBFGS()
    var retrainWithValidation = true

    struct Fit {
        let classifier: LinearClassifier
        let standardizer: FeatureStandardizer
        let result: LBFGS.Result
    }

    struct Outcome {
        /// (weight decay, validation metrics, validation loss, solver iterations) per swept value.
        let sweep: [(weightDecay: Double, validation: ClassificationMetrics, loss: Double, iterations: Int)]
        let chosenWeightDecay: Double
        let final: Fit
        let test: ClassificationMetrics
    }

    /// Runs the protocol. `extra` sets (mirrored images' features) are added to the sets fitted on:
    /// `extraTrain` to the training set, `extraValidation` to the validation set when it is refitted on.
    func run(train: LabelledFeatures, validation: LabelledFeatures, test: LabelledFeatures,
             extraTrain: LabelledFeatures? = nil, extraValidation: LabelledFeatures? = nil,
             task: ClassificationTask, classCount: Int, backend: any Backend,
             log: (String) -> Void = { _ in }) -> Outcome {
        precondition(!weightDecays.isEmpty, "no weight decay to sweep")
        let fitSet = LabelledFeatures.concatenated([train] + (extraTrain.map { [$0] } ?? []))
        var sweep: [(weightDecay: Double, validation: ClassificationMetrics, loss: Double, iterations: Int)] = []
        var best: (score: Double, loss: Double, weightDecay: Double, fit: Fit)?
        for weightDecay in weightDecays {
            let fit = self.fit(fitSet, weightDecay: weightDecay, task: task, classCount: classCount, backend: backend)
            let metrics = score(fit, validation, task: task, classCount: classCount, backend: backend)
            let loss = self.loss(fit, validation, classCount: classCount, backend: backend)
            sweep.append((weightDecay, metrics, loss, fit.result.iterations))
            let value = task == .multiLabel ? (metrics.auc ?? 0) : metrics.accuracy
            log("weight decay \(weightDecay): validation \(metrics.summary(classNames: [])), loss \(fixed(loss, 4))  "
                + "(\(fit.result.iterations) L-BFGS iterations, \(fit.result.converged ? "converged" : fit.result.reason))")
            if best == nil || value > best!.score || (value == best!.score && loss < best!.loss) {
                best = (value, loss, weightDecay, fit)
            }
        }
        var final = best!.fit
        if retrainWithValidation {
            let all = LabelledFeatures.concatenated([fitSet, validation] + (extraValidation.map { [$0] } ?? []))
            final = fit(all, weightDecay: best!.weightDecay, task: task, classCount: classCount, backend: backend)
        }
        return Outcome(sweep: sweep, chosenWeightDecay: best!.weightDecay, final: final,
                       test: score(final, test, task: task, classCount: classCount, backend: backend))
    }

    /// Standardises `set` on its own statistics and fits a classifier to convergence.
    func fit(_ set: LabelledFeatures, weightDecay: Double, task: ClassificationTask, classCount: Int,
             backend: any Backend) -> Fit {
        let standardizer = FeatureStandardizer(fitting: set.features)
        let (classifier, result) = LinearClassifier.fit(features: standardizer.apply(set.features), labels: set.labels,
                                                        classCount: classCount, multiLabel: task == .multiLabel,
                                                        weightDecay: weightDecay, solver: solver, backend: backend)
        return Fit(classifier: classifier, standardizer: standardizer, result: result)
    }

    /// The metrics of `fit` on `set`.
    func score(_ fit: Fit, _ set: LabelledFeatures, task: ClassificationTask, classCount: Int,
               backend: any Backend) -> ClassificationMetrics {
        let logits = fit.classifier.logits(fit.standardizer.apply(set.features), backend: backend)
        return ClassificationMetrics(task: task, logits: logits, labels: set.labels, classCount: classCount)
    }

    /// The mean training loss (cross-entropy, or BCE summed over labels) of `fit` on `set`, without the decay term.
    func loss(_ fit: Fit, _ set: LabelledFeatures, classCount: Int, backend: any Backend) -> Double {
        let objective = LogisticObjective(features: fit.standardizer.apply(set.features), labels: set.labels,
                                          classCount: classCount, multiLabel: fit.classifier.multiLabel,
                                          weightDecay: 0, backend: backend)
        var gradient = [Double](repeating: 0, count: fit.classifier.weight.count + classCount)
        return objective.evaluate(fit.classifier.weight + fit.classifier.bias, gradient: &gradient)
    }

    /// A seeded split of `set` into (train, held out): `fraction` of the rows, chosen by a permutation
    /// from `RandomGenerator(seed, 0x484F_4C44)`, are held out; both parts keep their original order.
    static func holdOut(_ set: LabelledFeatures, fraction: Double, seed: UInt64) -> (train: [Int], heldOut: [Int]) {
        var random = RandomGenerator(seed: seed, 0x484F_4C44)
        var order = Array(0..<set.count)
        for i in stride(from: order.count - 1, to: 0, by: -1) { order.swapAt(i, random.integer(below: i + 1)) }
        let heldOut = Set(order.prefix(Int((Double(set.count) * fraction).rounded())))
        return ((0..<set.count).filter { !heldOut.contains($0) }, (0..<set.count).filter { heldOut.contains($0) })
    }
}
