import Data
import Engine

/// Which images of a split a 2-D map (t-SNE) shows, and the group each point is coloured by.
struct EmbeddingSample {
    enum Selection: String { case stratified, first }

    /// Indices into the split, increasing.
    let indices: [Int]
    /// Each point's group, an index into `groupNames`.
    let groups: [Int]
    let groupNames: [String]

    /// `count` images of `dataset`: the first ones, or classes taken in turn from a seeded shuffle
    /// (equal counts per class where the classes have enough images; multi-label data balances its
    /// groups, see `group`).
    init(dataset: ImageDataset, count: Int, selection: Selection, seed: UInt64) {
        let names = EmbeddingSample.groupNames(dataset)
        let all = (0..<dataset.count).map { EmbeddingSample.group(dataset, $0) }
        var chosen: [Int]
        switch selection {
        case .first:
            chosen = Array(0..<min(count, dataset.count))
        case .stratified:
            var random = RandomGenerator(seed: seed, 0x5453_4E45)
            var queues = [[Int]](repeating: [], count: names.count)
            for index in random.permutation(dataset.count) { queues[all[index]].append(index) }
            chosen = []
            var position = 0
            while chosen.count < min(count, dataset.count) {
                for queue in queues where position < queue.count && chosen.count < count { chosen.append(queue[position]) }
                position += 1
            }
            chosen.sort()
        }
        indices = chosen
        groups = chosen.map { all[$0] }
        groupNames = names
    }

    /// Group names: the class names; for multi-label data "no finding", each label, "several";
    /// plus "unlabeled" when any image has label -1.
    static func groupNames(_ dataset: ImageDataset) -> [String] {
        if dataset.labelsPerSample > 1 { return ["no finding"] + dataset.classNames + ["several findings"] }
        return dataset.classNames + (dataset.labels.contains(-1) ? ["unlabeled"] : [])
    }

    /// The group of image `index`: its class; for multi-label data 0 with no label set, 1 + k with
    /// only label k, the last group with several; unlabeled images the last group.
    static func group(_ dataset: ImageDataset, _ index: Int) -> Int {
        let labels = dataset.labels(at: index)
        if dataset.labelsPerSample > 1 {
            let set = labels.indices.filter { labels[$0] != 0 }
            return set.isEmpty ? 0 : set.count == 1 ? 1 + set[0] - labels.startIndex : dataset.classCount + 1
        }
        let label = Int(labels[labels.startIndex])
        return label < 0 ? dataset.classCount : label
    }
}

/// The images of `parent` at `indices`, in that order, sharing its pixels.
final class IndexedPixels: PixelStorage {
    let parent: any PixelStorage
    let indices: [Int]

    init(parent: any PixelStorage, indices: [Int]) {
        self.parent = parent
        self.indices = indices
    }

    var imageCount: Int { indices.count }
    var imageByteCount: Int { parent.imageByteCount }

    func copyImage(at index: Int, into destination: UnsafeMutablePointer<UInt8>) {
        parent.copyImage(at: indices[index], into: destination)
    }
}

extension ImageDataset {
    /// The samples at `indices` (labels copied, pixels shared).
    func selecting(_ indices: [Int]) -> ImageDataset {
        let labels = indices.flatMap { self.labels(at: $0) }
        return ImageDataset(name: name, storage: IndexedPixels(parent: storage, indices: indices), count: indices.count,
                            height: height, width: width, channels: channels, labels: labels,
                            labelsPerSample: labelsPerSample, classCount: classCount, classNames: classNames)
    }
}
