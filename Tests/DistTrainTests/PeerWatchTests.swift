import Collectives
@testable import DistTrain
import XCTest

/// `PeerWatch`'s decision (the exit itself is covered by the mpirun tests that kill a rank): nothing before
/// the stall time, then a failure that `failureCheck` reports (NCCL's asynchronous error), then the time-out.
final class PeerWatchTests: XCTestCase {
    func testAStalledJobStopsOnAReportedFailureOrTheTimeOut() throws {
        let watch = try PeerWatch(communicator: LocalCommunicator(), stallSeconds: 10, timeoutSeconds: 60) { "resume" }
        XCTAssertNil(watch.stopReason(silentSeconds: 30), "stalled, but nothing reported and not timed out")
        XCTAssertEqual(watch.stopReason(silentSeconds: 61),
                       "no training progress for 61 s (--collective-timeout 60): a rank on another node died or hangs")
        watch.failureCheck = { "NCCL 2.21.5 reports \"remote process exited or there was a network error\"" }
        XCTAssertNil(watch.stopReason(silentSeconds: 9), "not stalled yet: NCCL is not asked")
        XCTAssertEqual(watch.stopReason(silentSeconds: 10),
                       "NCCL 2.21.5 reports \"remote process exited or there was a network error\", so the job cannot continue")
    }
}
