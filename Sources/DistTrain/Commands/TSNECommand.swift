import Data
import Engine
#if canImport(Glibc)
import Glibc
#endif

/// `disttrain tsne`: a 2-D t-SNE map of a frozen encoder's features on a labelled split, written as
/// `tsne.svg` (coloured by class) and `tsne.csv`.
struct TSNECommand: Command {
    static let name = "tsne"
    static let summary = "t-SNE map of encoder features: tsne --checkpoint FILE -> tsne.svg, tsne.csv"
    static let options: [Option] = [
        .value("checkpoint", "checkpoint or torchvision-named safetensors with the encoder's weights"),
        .flag("random-init", "map the encoder at random initialisation (the baseline) instead"),
        .value("dataset", default: "fashion-mnist", "dataset: \(supportedDatasetNames.joined(separator: ", "))"),
        .value("data-dir", "folder holding the dataset files"),
        .value("image-size", "MedMNIST+ resolution: 28, 64, 128 or 224"),
        .value("split", default: "test", "which split's images to map"),
        .value("samples", default: "2000", "images to map (at most 10000: the exact method keeps an N x N matrix)"),
        .value("select", default: "stratified", "stratified (classes in turn, seeded shuffle) or first (the first N)"),
        .value("perplexity", default: "30", "effective number of neighbours of each point"),
        .value("iterations", default: "1000", "gradient-descent iterations in all (the first 250 with exaggeration)"),
        .value("early-exaggeration", default: "12", "factor on P during the first 250 iterations"),
        .value("learning-rate", default: "auto", "step size; auto is max(N / early exaggeration / 4, 50)"),
        .value("pca", default: "50", "reduce the features to this many principal components first (at most N); 0 keeps them all"),
        .value("init", default: "pca", "initial map: pca (first two components, std 1e-4) or random"),
        .value("seed", default: "0", "seed of the sample selection, the random init and --random-init's weights"),
        .value("depth", "ResNet depth (default: from the checkpoint, else 18)"),
        .value("stem", "cifar or imagenet (default: from the checkpoint, else cifar)"),
        .value("width", "width multiplier (default: from the checkpoint, else 0.25)"),
        .value("threads", "CPU threads (default: all cores)"),
        .value("out", "output folder (default: the run directory of a RUN_DIR/checkpoints/*.safetensors, else .)"),
    ]
    static var help: String {
        helpText(command: name, summary: summary, usage: "disttrain tsne (--checkpoint FILE | --random-init) [options]",
                 options: options, details: """
                 t-SNE (van der Maaten & Hinton 2008) as scikit-learn's TSNE(method="exact"): P calibrated to the
                 perplexity by binary search per point, Student-t Q in 2-D, exact KL gradient, early exaggeration
                 12 with momentum 0.5 for 250 iterations then momentum 0.8, per-coordinate gains. The features are
                 the encoder's pooled outputs in evaluation mode (as 'eval knn' uses), reduced by PCA first.
                 Writes OUT/tsne.svg (points coloured by class, legend of class names) and OUT/tsne.csv
                 (index,label,group,x,y; index is the image's position in the split). Time and memory grow as
                 N^2: 2000 points took 21 s on 2 busy cores; 10000 points need 800 MB and about 25 times as long.
                 Example: disttrain tsne --checkpoint runs/simclr/checkpoints/last.safetensors --samples 2000
                 """)
    }

    static func run(_ arguments: [String]) throws {
        let parsed = try ParsedArguments(arguments, options: options, command: name)
        guard parsed.positional.isEmpty else { throw UsageError("unexpected argument '\(parsed.positional[0])'") }
        let checkpoint = parsed.string("checkpoint")
        guard (checkpoint != nil) != parsed.has("random-init") else {
            throw UsageError("give exactly one of --checkpoint FILE and --random-init")
        }
        let samples = try parsed.int("samples")!
        guard (3...10_000).contains(samples) else {
            throw UsageError("--samples must be 3...10000 (the exact t-SNE keeps an N x N matrix); got \(samples)")
        }
        guard let selection = EmbeddingSample.Selection(rawValue: parsed.string("select")!) else {
            throw UsageError("--select must be stratified or first")
        }
        guard let split = Split(rawValue: parsed.string("split")!) else {
            throw UsageError("--split must be one of \(Split.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        let initName = parsed.string("init")!
        guard initName == "pca" || initName == "random" else { throw UsageError("--init must be pca or random") }
        let perplexity = try parsed.double("perplexity")!
        let seed = UInt64(try parsed.int("seed")!)
        let components = try parsed.int("pca")!
        var tsne = TSNE()
        tsne.iterations = try parsed.int("iterations")!
        tsne.earlyExaggeration = try parsed.double("early-exaggeration")!
        if parsed.string("learning-rate") != "auto" { tsne.learningRate = try parsed.double("learning-rate") }
        guard tsne.iterations >= 1, perplexity > 0, components >= 0 else {
            throw UsageError("--iterations and --perplexity must be positive, --pca 0 or more")
        }
        let threads = try parsed.int("threads") ?? CPUBackend.defaultThreadCount
        let backend = CPUBackend(threads: threads)
        tsne.pool = backend.pool

        let data = try loadDataset(name: parsed.string("dataset")!, split: split, directory: parsed.string("data-dir"),
                                   imageSize: try parsed.int("image-size"))
        let sample = EmbeddingSample(dataset: data, count: samples, selection: selection, seed: seed)
        let n = sample.indices.count
        guard perplexity < Double(n) else {
            throw UsageError("--perplexity \(perplexity) must be below the number of points (\(n))")
        }
        let encoder = try FrozenEncoder(checkpoint: checkpoint, seed: seed,
                                        overrides: .init(depth: try parsed.int("depth"), stem: parsed.string("stem"),
                                                         width: try parsed.double("width")),
                                        dataset: data, backend: backend)
        let clock = ContinuousClock()
        let start = clock.now
        let features = try encoder.features(of: data.selecting(sample.indices), backend: backend).features
        var d = features.shape[1]
        var x = (0..<(n * d)).map { Double(features.pointer[$0]) }
        // As scikit-learn's PCA: no more components than points.
        let kept = min(components, n)
        if kept > 0 && kept < d {
            x = PCA(x, count: n, dimension: d, components: kept).transform(x, count: n)
            d = kept
        }
        printFlushed("tsne: \(n) images of \(data.name) (\(selection.rawValue)), \(features.shape[1]) features"
                     + (d < features.shape[1] ? " -> \(d) by PCA" : "") + "; \(encoder.description); "
                     + "perplexity \(perplexity), learning rate \(fixed(tsne.learningRate(count: n), 1))")
        let p = TSNEAffinities.joint(x, count: n, dimension: d, perplexity: perplexity, pool: backend.pool)
        let initial = initName == "pca" ? TSNE.pcaInitial(x, count: n, dimension: d) : TSNE.randomInitial(count: n, seed: seed)
        let result = tsne.embed(p: p, count: n, initial: initial) { iteration, kl in
            if iteration % 250 == 0 || iteration == tsne.iterations {
                printFlushed("tsne: iteration \(iteration)  KL \(fixed(kl, 4))  (\(fixed((clock.now - start).seconds, 1)) s)")
            }
        }

        let out = try parsed.string("out") ?? defaultOutputFolder(checkpoint: checkpoint)
        try makeDirectories(out)
        let title = "t-SNE of \(data.name): " + (checkpoint.map(runTitle) ?? "random init")
        let chart = ScatterChart(title: title, xLabel: "t-SNE 1", yLabel: "t-SNE 2",
                                 points: (0..<n).map { (result.y[2 * $0], result.y[2 * $0 + 1], sample.groups[$0]) },
                                 groupNames: sample.groupNames)
        try writeFileAtomically(out + "/tsne.svg", Array(chart.render().text.utf8))
        var csv = "index,label,group,x,y\n"
        for i in 0..<n {
            csv += "\(sample.indices[i]),\(sample.groups[i]),\(csvField(sample.groupNames[sample.groups[i]])),"
                + "\(result.y[2 * i]),\(result.y[2 * i + 1])\n"
        }
        try writeFileAtomically(out + "/tsne.csv", Array(csv.utf8))
        printFlushed("tsne: KL \(fixed(result.history.last!.kl, 4)) after \(tsne.iterations) iterations in "
                     + "\(fixed((clock.now - start).seconds, 1)) s; wrote \(out)/tsne.svg and \(out)/tsne.csv")
    }

    /// RUN_DIR for RUN_DIR/checkpoints/FILE, else the current directory.
    static func defaultOutputFolder(checkpoint: String?) -> String {
        guard let checkpoint else { return "." }
        let parts = checkpoint.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count >= 2, parts[parts.count - 2] == "checkpoints" else { return "." }
        let run = parts.dropLast(2).joined(separator: "/")
        return run.isEmpty ? (checkpoint.hasPrefix("/") ? "/" : ".") : run
    }

    /// "simclr (last)" for runs/simclr/checkpoints/last.safetensors, else the file name.
    static func runTitle(_ checkpoint: String) -> String {
        let folder = defaultOutputFolder(checkpoint: checkpoint)
        let file = String(checkpoint.split(separator: "/").last ?? "")
        let stem = file.hasSuffix(".safetensors") ? String(file.dropLast(12)) : file
        return folder == "." ? file : "\(runName(folder)) (\(stem))"
    }
}

/// A CSV field, quoted when it holds a comma, quote or line break (RFC 4180).
func csvField(_ text: String) -> String {
    guard text.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return text }
    return "\"" + text.split(separator: "\"", omittingEmptySubsequences: false).joined(separator: "\"\"") + "\""
}
