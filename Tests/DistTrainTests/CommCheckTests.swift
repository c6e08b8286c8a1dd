import XCTest

/// Runs `disttrain comm-check` as users do: alone, and under `mpirun` with several ranks.
final class CommCheckTests: XCTestCase {
    static let checks = ["allreduce-sum", "allreduce-mean", "allreduce-max", "allgather", "gather", "reduce-scatter",
                         "broadcast", "broadcast-bytes", "barrier"]

    func testSingleProcessRunsLocally() throws {
        let result = try runProcess(try DistTrainBinary.locate(), ["comm-check", "--sizes-mb", "1", "--iterations", "2"])
        try assertPassed(result, worldSize: 1)
        XCTAssertTrue(result.standardOutput.contains("(local)"), result.output)
    }

    func testTwoRanksUnderMPIRun() throws {
        try assertPassed(try mpirun(ranks: 2, ["--sizes-mb", "1", "--iterations", "2"]), worldSize: 2)
    }

    func testFourRanksUnderMPIRun() throws {
        try assertPassed(try mpirun(ranks: 4, ["--sizes-mb", "1", "--iterations", "2"]), worldSize: 4)
    }

    /// Splits every MPI call into pieces of 100 elements: the path buffers beyond Int32.max elements take.
    func testCallsSplitIntoPiecesGiveTheSameResults() throws {
        try assertPassed(try mpirun(ranks: 3, ["--sizes-mb", "1", "--iterations", "1", "--chunk-elements", "100"]),
                         worldSize: 3)
    }

    func testAFailedCheckNamesTheCheckAndTheRank() throws {
        let result = try mpirun(ranks: 2, ["--sizes-mb", "1", "--iterations", "1", "--fault-rank", "1"])
        XCTAssertFalse(result.timedOut, result.output)
        XCTAssertNotEqual(result.status, 0, result.output)
        XCTAssertTrue(result.standardOutput.contains("FAILED allgather on rank(s) 1"), result.output)
        XCTAssertTrue(result.standardError.contains("comm-check failed: allgather on rank(s) 1"), result.output)
        XCTAssertTrue(result.standardOutput.contains("ok reduce-scatter"), result.output)
    }

    /// Launcher variables that MPI does not confirm (here: set by hand, no mpirun) stop the run with both views.
    func testWorldSizeMismatchFailsWithClearMessage() throws {
        var environment = cleanEnvironment()
        environment["OMPI_COMM_WORLD_RANK"] = "0"
        environment["OMPI_COMM_WORLD_SIZE"] = "3"
        let result = try runProcess(try DistTrainBinary.locate(), ["comm-check", "--sizes-mb", "1"],
                                    environment: environment)
        XCTAssertFalse(result.timedOut, result.output)
        XCTAssertEqual(result.status, 1, result.output)
        XCTAssertTrue(result.standardError.contains("Open MPI says rank 0 of world size 3, but MPI says rank 0 of world size 1"),
                      result.output)
    }

    private func mpirun(ranks: Int, _ options: [String]) throws -> ProcessResult {
        guard let mpirun = findOnPath("mpirun") else { throw XCTSkip("mpirun is not on PATH") }
        let binary = try DistTrainBinary.locate()
        return try runProcess(mpirun, ["--allow-run-as-root", "--oversubscribe", "-np", "\(ranks)", binary.path,
                                       "comm-check"] + options)
    }

    /// Exit status 0, the right world size, every check reported ok by rank 0, and a bandwidth row for 1 MiB.
    private func assertPassed(_ result: ProcessResult, worldSize: Int,
                              file: StaticString = #filePath, line: UInt = #line) throws {
        XCTAssertFalse(result.timedOut, "comm-check hung and was killed\n\(result.output)", file: file, line: line)
        XCTAssertEqual(result.status, 0, result.output, file: file, line: line)
        let lines = result.standardOutput.split(separator: "\n").map(String.init)
        XCTAssertTrue(lines.contains { $0.hasPrefix("comm-check: world size \(worldSize) ") },
                      "expected world size \(worldSize)\n\(result.output)", file: file, line: line)
        for check in Self.checks {
            XCTAssertTrue(lines.contains { $0 == "ok \(check)" || $0.hasPrefix("ok \(check)  ") },
                          "no 'ok \(check)' line\n\(result.output)", file: file, line: line)
        }
        XCTAssertFalse(result.standardOutput.contains("FAILED"), result.output, file: file, line: line)
        let row = lines.first { $0.split(separator: " ").first == "1" }
        let columns = row?.split(separator: " ").compactMap { Double($0) } ?? []
        XCTAssertEqual(columns.count, 4, "no bandwidth row for 1 MiB\n\(result.output)", file: file, line: line)
        XCTAssertTrue(columns.allSatisfy { $0.isFinite && $0 >= 0 }, "\(columns)", file: file, line: line)
    }
}
