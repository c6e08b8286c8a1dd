import Data
import Foundation
import XCTest
@testable import DistTrain

/// Sample selection for the map and `disttrain tsne` as users run it.
final class TSNECommandTests: XCTestCase {
    func dataset(labels: [Int32], perSample: Int = 1, classes: Int) -> ImageDataset {
        let count = labels.count / perSample
        return ImageDataset(name: "tiny", images: [UInt8](repeating: 0, count: count * 4), count: count, height: 2,
                            width: 2, channels: 1, labels: labels, labelsPerSample: perSample, classCount: classes,
                            classNames: (0..<classes).map { "c\($0)" })
    }

    func testStratifiedSelectionTakesClassesInTurn() {
        // Class 0: 10 images, class 1: 3, class 2: 7, and two unlabeled (-1).
        let labels: [Int32] = [0, 0, 2, 0, 1, 0, 2, 0, 0, 2, 2, 0, -1, 1, 2, 0, 0, 2, 1, 0, 2, -1]
        let data = dataset(labels: labels, classes: 3)
        let sample = EmbeddingSample(dataset: data, count: 12, selection: .stratified, seed: 1)
        XCTAssertEqual(sample.groupNames, ["c0", "c1", "c2", "unlabeled"])
        XCTAssertEqual(sample.indices, sample.indices.sorted())
        XCTAssertEqual(Set(sample.indices).count, 12)
        let counts = (0..<4).map { g in sample.groups.filter { $0 == g }.count }
        XCTAssertEqual(counts, [4, 3, 3, 2], "3 each, class 1 runs out, the last two go to the larger classes")
        for (index, group) in zip(sample.indices, sample.groups) {
            XCTAssertEqual(group, labels[index] < 0 ? 3 : Int(labels[index]))
        }
        XCTAssertNotEqual(sample.indices, EmbeddingSample(dataset: data, count: 12, selection: .stratified, seed: 2).indices)
        XCTAssertEqual(EmbeddingSample(dataset: data, count: 5, selection: .first, seed: 1).indices, [0, 1, 2, 3, 4])
        XCTAssertEqual(EmbeddingSample(dataset: data, count: 50, selection: .stratified, seed: 1).indices, Array(0..<22))
    }

    func testMultiLabelGroups() {
        let flags: [Int32] = [0, 0, 0,  0, 1, 0,  1, 0, 1,  0, 0, 1]
        let data = dataset(labels: flags, perSample: 3, classes: 3)
        XCTAssertEqual(EmbeddingSample.groupNames(data), ["no finding", "c0", "c1", "c2", "several findings"])
        XCTAssertEqual((0..<4).map { EmbeddingSample.group(data, $0) }, [0, 2, 4, 3])
        let picked = data.selecting([3, 1])
        XCTAssertEqual(picked.labels, [0, 0, 1, 0, 1, 0])
    }

    func testOutputFolderAndCSVQuoting() {
        XCTAssertEqual(TSNECommand.defaultOutputFolder(checkpoint: "runs/a/checkpoints/last.safetensors"), "runs/a")
        XCTAssertEqual(TSNECommand.defaultOutputFolder(checkpoint: "/x/checkpoints/best.safetensors"), "/x")
        XCTAssertEqual(TSNECommand.defaultOutputFolder(checkpoint: "enc.safetensors"), ".")
        XCTAssertEqual(TSNECommand.runTitle("runs/a/checkpoints/best.safetensors"), "a (best)")
        XCTAssertEqual(csvField("T-shirt/top"), "T-shirt/top")
        XCTAssertEqual(csvField("a, \"b\""), "\"a, \"\"b\"\"\"")
    }

    func testTSNECommandWritesTheMapAndTable() throws {
        let binary = try DistTrainBinary.locate()
        let out = try ReportTestSupport.temporaryDirectory("tsne")
        defer { try? FileManager.default.removeItem(atPath: out) }
        let result = try runProcess(binary, ["tsne", "--random-init", "--dataset", "synthetic", "--samples", "40",
                                             "--perplexity", "5", "--iterations", "300", "--threads", "2", "--out", out])
        XCTAssertEqual(result.status, 0, result.output)
        XCTAssertTrue(result.standardOutput.contains("tsne: 40 images of synthetic/test (stratified), 128 features -> 40 by PCA"),
                      result.output)
        let csv = try String(contentsOfFile: out + "/tsne.csv", encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(csv.first, "index,label,group,x,y")
        let rows = csv.dropFirst().map { $0.split(separator: ",") }
        XCTAssertEqual(rows.count, 40)
        XCTAssertEqual(Set(rows.map { $0[0] }).count, 40, "distinct images")
        for g in 0..<10 { XCTAssertEqual(rows.filter { $0[1] == "\(g)" }.count, 4, "class \(g)") }
        XCTAssertTrue(rows.allSatisfy { $0[2] == "pattern \($0[1])" && Double($0[3])!.isFinite && Double($0[4])!.isFinite })
        let svg = try String(contentsOfFile: out + "/tsne.svg", encoding: .utf8)
        XCTAssertEqual(svg.components(separatedBy: "<circle").count - 1, 40 + 10, "40 points and 10 legend dots")
        XCTAssertTrue(svg.contains(">pattern 9</text>"))
        XCTAssertNil(try ReportTestSupport.xmlProblems(svg))

        let tooMany = try runProcess(binary, ["tsne", "--random-init", "--dataset", "synthetic", "--samples", "20000"])
        XCTAssertEqual(tooMany.status, 2)
        XCTAssertTrue(tooMany.standardError.contains("--samples must be 3...10000"), tooMany.output)
        let neither = try runProcess(binary, ["tsne", "--dataset", "synthetic"])
        XCTAssertEqual(neither.status, 2)
        XCTAssertTrue(neither.standardError.contains("--checkpoint FILE and --random-init"), neither.output)
    }
}
