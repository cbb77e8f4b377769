import FluxionKernels

/// Global settings and figures of the compute back end: the kernels' thread count and the
/// tensor-storage memory accounting. (Not named `Fluxion`: a type with the module's name would
/// make `Fluxion.Tensor` unwritable.)
public enum Runtime {
    /// Number of threads the kernels use (initially `FLUXION_THREADS` or the core count).
    public static var threadCount: Int {
        get { ThreadPool.shared.threadCount }
        set { ThreadPool.shared.threadCount = newValue }
    }
    /// Bytes of tensor storage alive now.
    public static var liveBytes: Int { MemoryAccounting.liveBytes }
    /// Peak bytes of tensor storage since the last `resetPeakBytes()`.
    public static var peakBytes: Int { MemoryAccounting.peakBytes }
    /// Starts a new peak: `peakBytes` becomes `liveBytes`.
    public static func resetPeakBytes() { MemoryAccounting.resetPeak() }
}
