import Synchronization

/// Accounting of tensor storage: bytes live now and the peak since the last reset.
///
/// NOTE(1): every tensor buffer is allocated through `allocate(byteCount:)` and released through
/// `deallocate(_:byteCount:)`, so `liveBytes` is exact for tensor storage (not for Swift arrays
/// or other heap use). Counters are atomics: storage may be freed on any thread.
public enum MemoryAccounting {
    private static let live = Atomic<Int>(0)
    private static let peak = Atomic<Int>(0)

    /// Alignment of every buffer: one cache line, so SIMD loads never straddle two lines at the start.
    public static let alignment = 64

    /// Allocates `byteCount` bytes (64-byte aligned) and records them as live.
    @inlinable
    public static func allocate(byteCount: Int) -> UnsafeMutableRawPointer {
        let p = UnsafeMutableRawPointer.allocate(byteCount: max(byteCount, 1), alignment: alignment)
        record(allocated: byteCount)
        return p
    }

    /// Frees a buffer obtained from `allocate(byteCount:)`.
    @inlinable
    public static func deallocate(_ pointer: UnsafeMutableRawPointer, byteCount: Int) {
        pointer.deallocate()
        record(freed: byteCount)
    }

    @usableFromInline
    static func record(allocated bytes: Int) {
        let now = live.add(bytes, ordering: .relaxed).newValue
        var current = peak.load(ordering: .relaxed)
        while now > current {
            let (exchanged, original) = peak.compareExchange(
                expected: current, desired: now, ordering: .relaxed)
            if exchanged { break }
            current = original
        }
    }

    @usableFromInline
    static func record(freed bytes: Int) {
        live.subtract(bytes, ordering: .relaxed)
    }

    /// Bytes of tensor storage alive now.
    public static var liveBytes: Int { live.load(ordering: .relaxed) }
    /// Largest `liveBytes` since the process started or since `resetPeak()`.
    public static var peakBytes: Int { peak.load(ordering: .relaxed) }
    /// Sets the peak to the bytes live now.
    public static func resetPeak() { peak.store(live.load(ordering: .relaxed), ordering: .relaxed) }
}
