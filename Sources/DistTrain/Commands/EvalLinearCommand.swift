import Engine

/// `disttrain eval linear`: the offline linear probe. Features of the frozen encoder are extracted once
/// (no augmentation), then a logistic regression is trained to convergence on them for each weight decay
/// of a small sweep, the best on the validation split is refitted and scored on the test set.
struct EvalLinearCommand: Command {
    static let name = "linear"
    static let summary = "offline linear probe (logistic regression by L-BFGS) on the frozen encoder's features"
    static let options: [Option] = EvaluationSetup.options + [
        .value("weight-decays", default: "0,1e-6,1e-5,1e-4,1e-3,1e-2", "comma-separated weight decays λ to sweep on the validation split"),
        .value("max-iterations", default: "1000", "L-BFGS iterations per fit at most"),
        .value("val-fraction", default: "0.1", "datasets without a validation split: fraction of the training images held out (seeded by --seed)"),
        .flag("flip-augment", "also train on the features of every training image mirrored left-right"),
        .flag("train-only", "report the chosen classifier fitted on the training split (default: refit on training + validation)"),
    ]
    static var help: String {
        helpText(command: "eval linear", summary: summary,
                 usage: "disttrain eval linear (--checkpoint FILE | --random-init) [options]", options: options, details: """
                 Features are the encoder's pooled outputs in evaluation mode, standardised with the mean and std of
                 the images fitted on. The classifier is multinomial logistic regression (softmax cross-entropy) for
                 single-label data and one logistic regression per label (binary cross-entropy) for multi-label
                 data (ChestMNIST), minimising mean loss + (λ/2)‖W‖² by full-batch L-BFGS until the gradient is below
                 1e-6 (scikit-learn's LogisticRegression with C = 1/(N·λ)). λ is chosen on the validation split
                 (MedMNIST's own; otherwise --val-fraction of the training images) by accuracy, or mean AUC for
                 multi-label data; then the classifier is refitted on training + validation with it.
                 Test metrics as MedMNIST's evaluator: accuracy and AUC (one-vs-rest mean, binary, or per-label mean).

                 Example (ChestMNIST at 64 px, with the random-encoder baseline for comparison):
                   disttrain eval linear --checkpoint runs/chest/checkpoints/last.safetensors --dataset chestmnist --image-size 64
                   disttrain eval linear --random-init --dataset chestmnist --image-size 64 --depth 18 --width 0.25
                 """)
    }

    static func run(_ arguments: [String]) throws {
        let parsed = try ParsedArguments(arguments, options: options, command: "eval linear")
        var protocolSettings = LinearEvaluation()
        protocolSettings.weightDecays = try (parsed.string("weight-decays") ?? "").split(separator: ",").map {
            guard let value = Double($0.filter { $0 != " " }), value >= 0 else {
                throw UsageError("--weight-decays expects non-negative numbers separated by commas, got '\($0)'")
            }
            return value
        }
        guard !protocolSettings.weightDecays.isEmpty else { throw UsageError("--weight-decays needs at least one value") }
        protocolSettings.solver.maxIterations = try parsed.int("max-iterations")!
        protocolSettings.retrainWithValidation = !parsed.has("train-only")
        let fraction = try parsed.double("val-fraction")!
        guard fraction > 0 && fraction < 1 else { throw UsageError("--val-fraction must be between 0 and 1, got \(fraction)") }
        let flip = parsed.has("flip-augment")

        let setup = try EvaluationSetup(parsed)
        let task = ClassificationTask(classCount: setup.train.classCount, labelsPerSample: setup.train.labelsPerSample)
        print("linear: \(setup.headline)")
        var train = try setup.features(setup.train)
        var trainFlipped = flip ? try setup.features(setup.train, flipped: true) : nil
        let validation: LabelledFeatures, validationFlipped: LabelledFeatures?, validationSource: String
        if let split = try setup.validationSplit() {
            validation = try setup.features(split)
            validationFlipped = flip ? try setup.features(split, flipped: true) : nil
            validationSource = "\(split.name)"
        } else {
            let (kept, heldOut) = LinearEvaluation.holdOut(train, fraction: fraction, seed: setup.seed)
            validation = train.rows(heldOut)
            validationFlipped = trainFlipped?.rows(heldOut)
            train = train.rows(kept)
            trainFlipped = trainFlipped?.rows(kept)
            validationSource = "\(fixed(100 * fraction, 0))% of the training images held out (seed \(setup.seed))"
        }
        guard train.count >= 2, validation.count >= 1 else {
            throw UsageError("\(train.count) training and \(validation.count) validation images are too few for the probe; "
                             + "use a larger --subset or --val-fraction")
        }
        let test = try setup.testFeatures()
        print("linear: \(task.rawValue), \(train.featureCount) features; \(train.count) train"
              + (flip ? " (+ as many mirrored)" : "") + ", \(validation.count) validation (\(validationSource)), \(test.count) test images")
        let outcome = protocolSettings.run(train: train, validation: validation, test: test, extraTrain: trainFlipped,
                                           extraValidation: validationFlipped, task: task,
                                           classCount: setup.train.classCount, backend: setup.backend,
                                           log: { printFlushed("  " + $0) })
        let refit = protocolSettings.retrainWithValidation ? "refitted on training + validation" : "fitted on training only"
        print("linear: chosen weight decay \(outcome.chosenWeightDecay) (best validation \(task == .multiLabel ? "AUC" : "accuracy")); "
              + "\(refit) in \(outcome.final.result.iterations) L-BFGS iterations"
              + (outcome.final.result.converged ? "" : " (\(outcome.final.result.reason))"))
        print("linear: test \(outcome.test.summary(classNames: setup.train.classNames))")
        try setup.record([("linear_acc", outcome.test.accuracy)] + (outcome.test.auc.map { [("linear_auc", $0)] } ?? []),
                         command: "linear")
    }
}
