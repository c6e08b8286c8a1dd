/// Learning-rate multipliers for parameters whose names start with a prefix, e.g. BYOL's predictor
/// trained at 10× the scheduled rate (`["predictor.": 10]`). Tian, Chen and Ganguli 2021 ("Understanding
/// self-supervised learning dynamics without contrastive pairs", section 5) find that a predictor which
/// learns faster than the rest keeps BYOL's online features from collapsing early; SimSiam (Chen & He 2021,
/// section 4.2) keeps the predictor's rate constant for the same reason. The multiplier applies to the
/// scheduled rate of every step, so warm-up and cosine still shape it.
public struct LearningRateMultipliers: Sendable, Equatable {
    /// (name prefix, multiplier); the first matching prefix wins, unmatched parameters get 1.
    public let prefixes: [(prefix: String, multiplier: Float)]

    public init(_ prefixes: [(prefix: String, multiplier: Float)] = []) {
        precondition(prefixes.allSatisfy { $0.multiplier.isFinite && $0.multiplier > 0 },
                     "learning-rate multipliers must be positive and finite")
        self.prefixes = prefixes
    }

    public static let none = LearningRateMultipliers()

    public static func == (a: Self, b: Self) -> Bool {
        a.prefixes.map(\.prefix) == b.prefixes.map(\.prefix) && a.prefixes.map(\.multiplier) == b.prefixes.map(\.multiplier)
    }

    /// The multiplier of the parameter called `name`.
    public func multiplier(for name: String) -> Float {
        prefixes.first { name.hasPrefix($0.prefix) }?.multiplier ?? 1
    }

    /// The flat buffer cut into contiguous ranges of equal multiplier and equal `key` (e.g. a weight decay),
    /// in store order, so an optimiser that updates whole ranges makes one call per run of equal settings.
    func ranges<Key: Equatable>(of store: ParameterStore, key: (ParameterInfo) -> Key)
        -> [(range: Range<Int>, multiplier: Float, key: Key)] {
        var runs: [(range: Range<Int>, multiplier: Float, key: Key)] = []
        for info in store.parameters {
            let multiplier = multiplier(for: info.name), value = key(info)
            let range = info.offset..<(info.offset + info.count)
            if let last = runs.last, last.multiplier == multiplier, last.key == value,
               last.range.upperBound == range.lowerBound {
                runs[runs.count - 1].range = last.range.lowerBound..<range.upperBound
            } else {
                runs.append((range, multiplier, value))
            }
        }
        return runs
    }
}
