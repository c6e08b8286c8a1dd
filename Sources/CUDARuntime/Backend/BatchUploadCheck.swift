import Engine

/// `gpu-check`'s check of `PinnedBatchUploader` on the real device, where the copy stream truly runs beside
/// the compute stream: `steps` steps of two views, each view uploaded (values that depend on the step and
/// the view), then read by a kernel into a scratch tensor after a few GEMMs keep the compute stream busy, and
/// every read compared with what was uploaded. A missing or misplaced event shows up as a stale or torn
/// batch. Returns one line per wrong read (empty: all passed); device errors are thrown.
public enum BatchUploadCheck {
    /// Steps `run` makes by default, each uploading two views.
    public static let defaultSteps = 6

    public static func run(_ backend: CUDABackend, steps: Int = defaultSteps, shape: [Int] = [64, 32, 32, 3], busySize n: Int = 2048) throws
        -> [String] {
        let uploader = PinnedBatchUploader(backend: backend)
        let count = shape.reduce(1, *)
        let busy = backend.zeros([n, n]), product = backend.zeros([n, n])
        var failures: [String] = []
        var reads: [(step: Int, view: Int, copy: Tensor)] = []
        for step in 0..<steps {
            for view in 0..<2 {
                let host = Tensor(shape: shape, values: (0..<count).map { Float((step * 2 + view) * 1000 + $0 % 997) })
                let onDevice = try uploader.stage(host, view: view)
                // Straight on the device (not through the backend's ops, which end the process on a device
                // error), so a race the emulator reports is thrown to the caller.
                for _ in 0..<4 {
                    try backend.gpu.sgemmColumnMajor(transposeA: false, transposeB: false, m: n, n: n, k: n, alpha: 1,
                                                     a: backend.address(busy), lda: n, b: backend.address(busy), ldb: n,
                                                     beta: 0, c: backend.address(product), ldc: n)
                }
                let copy = backend.zeros([count])
                try backend.gpu.launch(ElementwiseLaunch.copy(backend.address(onDevice), to: backend.address(copy), count: count))
                reads.append((step, view, copy))
            }
        }
        for (step, view, copy) in reads {
            let got = backend.download(copy)
            if let index = got.indices.first(where: { got[$0] != Float((step * 2 + view) * 1000 + $0 % 997) }) {
                failures.append("batch upload: step \(step) view \(view) element \(index) is \(got[index]), "
                                + "expected \(Float((step * 2 + view) * 1000 + index % 997))")
            }
        }
        return failures
    }
}
