import Engine

/// Checks a `DeviceCommunicator` on known values: each collective once, then the trainer's bucketed
/// gradient all-reduce (`DeviceGradientReducer`), then SyncBatchNorm's path (statistics all-gathered in
/// stream order and combined by a kernel, sums all-reduced in stream order and read by the next kernel,
/// no host wait between), on device buffers filled with small integers that depend on the rank (exact in
/// fp32), compared with the exact answer (the combined variance within 1e-6: a GPU may fuse its double
/// multiply-add). `gpu-check` runs it on one rank with NCCL,
/// so the first GPU session exercises the real library; the tests run it on the emulated NCCL. Returns one line per failed check (empty: all passed).
public enum DeviceCollectiveCheck {
    public static func run(_ communicator: DeviceCommunicator, backend: CUDABackend) throws -> [String] {
        let r = communicator.rank, w = communicator.worldSize, n = 1027
        let rankSum = w * (w + 1) / 2  // Σ over ranks of (r + 1)
        func device(_ values: [Float]) -> Tensor { backend.deviceCopy(Tensor(shape: [values.count], values: values)) }
        var failures: [String] = []
        func compare(_ name: String, _ tensor: Tensor, _ expected: [Float], tolerance: Float = 0) {
            let got = backend.download(tensor)
            guard let index = got.indices.first(where: { !(abs(got[$0] - expected[$0]) <= tolerance * abs(expected[$0])) })
            else { return }
            failures.append("\(name) on rank \(r): element \(index) is \(got[index]), expected \(expected[index])")
        }
        let values = device((0..<n).map { Float((r + 1) * ($0 % 13 + 1)) })
        try communicator.allReduceSum(values)
        compare("allReduceSum(\(n) floats)", values, (0..<n).map { Float(rankSum * ($0 % 13 + 1)) })
        let mine = device((0..<n).map { Float(r * 1000 + $0 % 997) })
        let gathered = device([Float](repeating: -1, count: n * w))
        try communicator.allGather(mine, into: gathered)
        compare("allGather(\(n) floats per rank)", gathered, (0..<(n * w)).map { Float($0 / n * 1000 + $0 % n % 997) })
        let blocks = device((0..<(n * w)).map { Float((r + 1) * ($0 / n + 1)) })
        let scattered = device([Float](repeating: -1, count: n))
        try communicator.reduceScatterSum(blocks, into: scattered)
        compare("reduceScatterSum(\(n) floats per rank)", scattered, [Float](repeating: Float(rankSum * (r + 1)), count: n))
        // The trainer's path: buckets queued on the collectives stream while a simulated backward (kernels
        // filling the gradients from the end) still runs, then one wait.
        let gradients = backend.zeros([n])
        let reducer = DeviceGradientReducer(gradients: gradients, communicator: communicator, bucketBytes: 4 * 100, overlap: true)
        reducer.beginStep()
        // Layer k (from the end) holds 250 gradients, all (rank + 1)·(k + 1).
        func layer(_ index: Int) -> Int { (n - 1 - index) / 250 }
        for upper in stride(from: n, to: 0, by: -250) {
            let lower = max(0, upper - 250)
            backend.fill(Tensor(view: gradients.storage, offset: gradients.offset + lower, shape: [upper - lower]),
                         with: Float((r + 1) * (layer(lower) + 1)))
            reducer.gradientsFinal(from: lower)
        }
        try reducer.finishStep()
        compare("DeviceGradientReducer (\(reducer.buckets.count) buckets of 100 floats, \(reducer.lastOverlappedBuckets) "
                + "queued during backward)", gradients, (0..<n).map { Float(rankSum * (layer($0) + 1)) })

        // SyncBatchNorm: rank q's [mean; var] of c channels, gathered and combined on the device.
        let c = 37
        func statistics(_ q: Int) -> [Float] { (0..<(2 * c)).map { $0 < c ? Float(q + $0 % 5) : Float(1 + q + $0 % 3) } }
        let mean = backend.zeros([c]), variance = backend.zeros([c]), all = backend.zeros([w, 2, c])
        try communicator.allGatherInStreamOrder(device(statistics(r)), into: all)
        backend.batchNormCombineRanks(gathered: all, mean: mean, variance: variance)
        var expectedMean = [Float](repeating: 0, count: c), expectedVariance = [Float](repeating: 0, count: c)
        CPUBackend.combineRanks(gathered: (0..<w).flatMap(statistics), ranks: w, mean: &expectedMean,
                                variance: &expectedVariance, channels: c)
        compare("SyncBatchNorm statistics (allGather in stream order + bn_combine_ranks): mean", mean, expectedMean)
        compare("SyncBatchNorm statistics (allGather in stream order + bn_combine_ranks): variance", variance,
                expectedVariance, tolerance: 1e-6)
        let sums = device((0..<(2 * c)).map { Float((r + 1) * ($0 % 7 + 1)) })
        try communicator.allReduceSumInStreamOrder(sums)
        backend.scale(sums, by: 2)  // the next kernel reads the sum without the host waiting
        compare("SyncBatchNorm sums (allReduceSum in stream order, then a kernel)", sums,
                (0..<(2 * c)).map { Float(2 * rankSum * ($0 % 7 + 1)) })
        return failures
    }
}
