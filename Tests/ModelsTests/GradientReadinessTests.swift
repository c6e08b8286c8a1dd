import XCTest
import Engine
@testable import Models

/// The hook the overlapped gradient all-reduce relies on: during a step's last backward pass, an offset o
/// is reported only once every gradient at offsets ≥ o is final. Checked on real methods by snapshotting
/// the gradients above each reported offset at report time and comparing with the step's final gradients.
final class GradientReadinessTests: XCTestCase {
    func testReportedGradientsAreFinalForEveryMethod() {
        let backend = CPUBackend(threads: 1)
        let config = ResNetConfig(depth: 18, stem: .cifar, widthMultiplier: 1.0 / 16, inChannels: 1)
        let methods: [any SelfSupervisedMethod] = [
            SimCLR(encoder: config, projectorHiddenDimension: 16, projectorOutputDimension: 8, seed: 1, backend: backend),
            VICReg(encoder: config, projectorHiddenDimension: 16, projectorOutputDimension: 8, seed: 1, backend: backend),
            BYOL(encoder: config, projectorHiddenDimension: 16, projectorOutputDimension: 8, predictorHiddenDimension: 16,
                 seed: 1, backend: backend),
            Supervised(encoder: config, classCount: 3, seed: 1, backend: backend),
        ]
        var random = RandomGenerator(seed: 3)
        let x1 = Tensor(shape: [4, 8, 8, 1], values: (0..<256).map { _ in Float(random.normal()) })
        let x2 = Tensor(shape: [4, 8, 8, 1], values: (0..<256).map { _ in Float(random.normal()) })
        for method in methods {
            let store = method.store
            var reports: [(offset: Int, snapshot: [Float])] = []
            method.lastBackwardStore.onGradientsFinal = { offset in
                reports.append((offset, Array(UnsafeBufferPointer(start: store.gradients.pointer + offset,
                                                                  count: store.count - offset))))
            }
            store.zeroGradients()
            method.lastBackwardStore.beginBackward()
            _ = method.trainStep(view1: x1, view2: x2, labels: [0, 1, 2, 0])
            let final = store.gradients.array
            XCTAssertGreaterThanOrEqual(reports.count, 9, "\(method.name): too few reports to overlap anything")
            XCTAssertEqual(reports.map(\.offset), reports.map(\.offset).sorted(by: >), "\(method.name): offsets must fall")
            XCTAssertLessThan(reports.last!.offset, store.count / 10, "\(method.name): the encoder's early layers never reported")
            for report in reports {
                XCTAssertEqual(report.snapshot, Array(final[report.offset...]),
                               "\(method.name): gradients above \(report.offset) changed after they were reported final")
            }
            XCTAssertTrue(final.contains { $0 != 0 }, method.name)
        }
    }
}
