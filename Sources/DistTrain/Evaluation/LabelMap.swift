import Engine

/// `--label-map FILE`: which class of the training (memory / probe) dataset each class of the
/// evaluation dataset counts as, for out-of-distribution evaluation (e.g. an STL-10 model tested on
/// CIFAR-10: `{"automobile": "car", "airplane": "airplane", ...}`).
///
/// The file is a JSON object. Keys are evaluation-dataset classes, values training-dataset classes,
/// each given by name (as the dataset lists them, `disttrain data stats` prints them) or by index
/// (a number, or a string of digits that is not a class name). Several evaluation classes may map to
/// one training class. Evaluation samples of a class the map does not list are dropped (and counted).
struct LabelMap {
    /// Evaluation class index → training class index; nil where the class is dropped.
    let target: [Int32?]

    /// Reads and resolves `path` against the two datasets' class names.
    init(path: String, evaluationClasses: [String], trainingClasses: [String],
         evaluationName: String, trainingName: String) throws {
        let entries: [String: ClassReference]
        do { entries = try ClassReference.fields(try readFile(path)) } catch let error as FileError {
            throw error
        } catch {
            throw UsageError("\(path): expected a JSON object mapping \(evaluationName) classes to \(trainingName) classes, "
                             + "names or indices, e.g. {\"automobile\": \"car\"} (\(error))")
        }
        func resolve(_ reference: ClassReference, in names: [String], _ role: String) throws -> Int {
            switch reference {
            case .name(let name):
                if let index = names.firstIndex(of: name) { return index }
                if let index = Int(name), names.indices.contains(index) { return index }
            case .index(let index):
                if names.indices.contains(index) { return index }
            }
            throw UsageError("\(path): '\(reference)' is not a class of \(role); its classes are "
                             + names.enumerated().map { "\($0.offset) \($0.element)" }.joined(separator: ", "))
        }
        var target = [Int32?](repeating: nil, count: evaluationClasses.count)
        for key in entries.keys.sorted() {
            let from = try resolve(.name(key), in: evaluationClasses, "the evaluation dataset \(evaluationName)")
            guard target[from] == nil else {
                throw UsageError("\(path): \(evaluationName) class '\(evaluationClasses[from])' is mapped twice")
            }
            target[from] = Int32(try resolve(entries[key]!, in: trainingClasses, "the training dataset \(trainingName)"))
        }
        guard target.contains(where: { $0 != nil }) else { throw UsageError("\(path): the label map maps no class") }
        self.target = target
    }

    init(target: [Int32?]) { self.target = target }

    /// The rows of `features` whose class is mapped, with their labels translated; and how many were dropped.
    func apply(to set: LabelledFeatures) -> (kept: LabelledFeatures, dropped: Int) {
        precondition(set.labelsPerSample == 1, "label maps apply to single-label data")
        let keep = set.labels.indices.filter { set.labels[$0] >= 0 && target[Int(set.labels[$0])] != nil }
        let kept = set.rows(keep)
        return (LabelledFeatures(features: kept.features, labels: kept.labels.map { target[Int($0)]! }, labelsPerSample: 1),
                set.count - keep.count)
    }

    /// A class given by name or by index.
    enum ClassReference: CustomStringConvertible {
        case name(String)
        case index(Int)

        /// A JSON object's fields as class references: each a string, or a whole number.
        static func fields(_ bytes: [UInt8]) throws -> [String: ClassReference] {
            var references: [String: ClassReference] = [:]
            for (name, value) in try JSON.parseObject(bytes) {
                if case .string(let text) = value { references[name] = .name(text); continue }
                guard let index = value.integer else {
                    var what = value.kind
                    if case .number = value { what = "a number that is not a whole number" }
                    throw JSONContentError("\(jsonQuoted(name)) maps to \(what)")
                }
                references[name] = .index(index)
            }
            return references
        }

        var description: String {
            switch self {
            case .name(let name): return name
            case .index(let index): return String(index)
            }
        }
    }
}
