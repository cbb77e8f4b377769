import Synchronization

/// Accounting of tensor storage: bytes live now and the peak since the last reset.
///
/// NOTE(1): every tensor buffer is allocated through `allocate(byteCount:)` and released through
/// `deallocate(_:byteCount:)`, so `liveBytes` is exact for tensor storage (not for Swift arrays
/// or other heap use). Counters are atomics: storage may be freed on any thread.
package enum MemoryAccounting {
    private static let live = Atomic<Int>(0)
    private static let peak = Atomic<Int>(0)

    /// Alignment of every buffer: one cache line, so SIMD loads never straddle two lines at the start.
    package static let alignment = 64

    // NOTE(2): a cache of freed large buffers, by exact size. A training step allocates the same
    // shapes every time; without the cache each large buffer is a fresh mmap whose pages fault in
    // again on first touch. Cached bytes are not "live" (they hold no tensor) and are capped.
    private static let cache = Mutex<BufferCache>(BufferCache())
    /// Buffers smaller than this go straight to malloc (which recycles them well).
    package static let cachedMinimumBytes = 64 << 10
    /// Most bytes kept in the cache.
    package static let cacheCapacityBytes = 512 << 20

    struct BufferCache {
        var free: [Int: [UnsafeMutableRawPointer]] = [:]
        var bytes = 0
    }

    /// Allocates `byteCount` bytes (64-byte aligned) and records them as live.
    package static func allocate(byteCount: Int) -> UnsafeMutableRawPointer {
        record(allocated: byteCount)
        if byteCount >= cachedMinimumBytes {
            let reused = cache.withLock { c -> UnsafeMutableRawPointer? in
                guard let p = c.free[byteCount]?.popLast() else { return nil }
                c.bytes -= byteCount
                return p
            }
            if let reused { return reused }
        }
        return UnsafeMutableRawPointer.allocate(byteCount: max(byteCount, 1), alignment: alignment)
    }

    /// Frees a buffer obtained from `allocate(byteCount:)`.
    package static func deallocate(_ pointer: UnsafeMutableRawPointer, byteCount: Int) {
        record(freed: byteCount)
        if byteCount >= cachedMinimumBytes {
            let kept = cache.withLock { c -> Bool in
                guard c.bytes + byteCount <= cacheCapacityBytes else { return false }
                c.free[byteCount, default: []].append(pointer)
                c.bytes += byteCount
                return true
            }
            if kept { return }
        }
        pointer.deallocate()
    }

    /// Returns every cached buffer to the system.
    package static func releaseCache() {
        let buffers = cache.withLock { c -> [UnsafeMutableRawPointer] in
            defer { c = BufferCache() }
            return c.free.values.flatMap { $0 }
        }
        for p in buffers { p.deallocate() }
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
    package static var liveBytes: Int { live.load(ordering: .relaxed) }
    /// Largest `liveBytes` since the process started or since `resetPeak()`.
    package static var peakBytes: Int { peak.load(ordering: .relaxed) }
    /// Sets the peak to the bytes live now.
    package static func resetPeak() { peak.store(live.load(ordering: .relaxed), ordering: .relaxed) }
}
