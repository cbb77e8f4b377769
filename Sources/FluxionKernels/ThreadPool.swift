#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization

/// A small persistent thread pool for data-parallel loops.
///
/// - `threadCount - 1` worker threads are created lazily; the caller of `parallelFor` is the last
///   participant. Work items are handed out dynamically (one atomic counter), so a worker that is
///   descheduled (e.g. the other core is busy) simply takes fewer items.
/// - After a job, workers spin for a short while (`spinMicroseconds`) waiting for the next one, then
///   sleep on a condition variable: an idle pool uses no CPU.
/// - A worker that has not yet joined a job when the caller has finished all items is shut out of
///   that job, so the caller never waits for a thread that is not running.
/// - Nested calls (from inside `body`) and calls made while another thread is using the pool run
///   serially inline: `parallelFor` is safe to call from any thread, at any time.
@usableFromInline package final class ThreadPool: @unchecked Sendable {
    @usableFromInline package static let shared = ThreadPool(threadCount: ThreadPool.defaultThreadCount())

    /// `FLUXION_THREADS` if set to a positive integer, else the number of online CPUs.
    package static func defaultThreadCount() -> Int {
        if let env = getenv("FLUXION_THREADS"), let n = Int(String(cString: env)), n >= 1 {
            return n
        }
        return max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
    }

    /// Microseconds a worker spins (checking for a new job) before it sleeps.
    package var spinMicroseconds: Int {
        get { spinNs.load(ordering: .relaxed) / 1000 }
        set { spinNs.store(max(0, newValue) * 1000, ordering: .relaxed) }
    }

    @usableFromInline package var threadCount: Int {
        get { requested.load(ordering: .relaxed) }
        set { requested.store(max(1, newValue), ordering: .relaxed) }
    }

    private static let closedBit = 1 << 40
    private static let countMask = closedBit - 1

    private let requested: Atomic<Int>
    private let spinNs = Atomic<Int>(100_000)
    // The three hot atomics live on separate 128-byte lines: workers spin reading `generation`
    // while the caller hammers `nextItem`; sharing a line made every item a cache-line transfer.
    private let slots: UnsafeMutablePointer<Atomic<Int>>
    private var generation: UnsafeMutablePointer<Atomic<Int>> { slots }
    private var nextItem: UnsafeMutablePointer<Atomic<Int>> { slots + 16 }
    /// closedBit | number of workers currently inside the job.
    private var state: UnsafeMutablePointer<Atomic<Int>> { slots + 32 }
    private let busy = Atomic<Bool>(false)
    /// While now < contendedUntil (ns), workers sleep right after a job instead of spinning:
    /// set when the caller had to wait long for a worker (the worker's core is shared).
    private let contendedUntil = Atomic<Int>(0)
    /// Time (ns) at which a worker last found it had been preempted during a long job.
    private let workerPreemptedAt = Atomic<Int>(0)
    /// Number of times the pool detected a long wait for a worker (diagnostics).
    package var contentionCount: Int { contentionEvents.load(ordering: .relaxed) }
    private let contentionEvents = Atomic<Int>(0)
    private let serialUntil = Atomic<Int>(0)
    private var lastContended = Int.min / 2 // only touched while `busy` is held
    private var earlierContended = Int.min / 2 // the one before (idem)
    private let shutdown = Atomic<Bool>(false)

    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private let wakeCond: UnsafeMutablePointer<pthread_cond_t>
    private let doneCond: UnsafeMutablePointer<pthread_cond_t>
    private var sleepers = 0          // guarded by mutex
    private var callerSleeping = false // guarded by mutex

    // Job description: written by the caller before `generation` is bumped, read by workers only
    // after they have joined (state count > 0 keeps the caller from changing it).
    private var jobBody: UnsafeMutableRawPointer? = nil
    private var jobIterations = 0
    private var jobWorkers = 0

    private var workers: [pthread_t] = [] // only touched while `busy` is held, or in deinit

    package init(threadCount: Int) {
        requested = Atomic(max(1, threadCount))
        let raw = UnsafeMutableRawPointer.allocate(byteCount: 48 * 8, alignment: 128)
        slots = raw.bindMemory(to: Atomic<Int>.self, capacity: 48)
        for i in 0..<48 { (slots + i).initialize(to: Atomic(0)) }
        mutex = .allocate(capacity: 1)
        wakeCond = .allocate(capacity: 1)
        doneCond = .allocate(capacity: 1)
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(wakeCond, nil)
        pthread_cond_init(doneCond, nil)
    }

    deinit {
        shutdown.store(true, ordering: .sequentiallyConsistent)
        pthread_mutex_lock(mutex)
        pthread_cond_broadcast(wakeCond)
        pthread_mutex_unlock(mutex)
        for t in workers { pthread_join(t, nil) }
        pthread_cond_destroy(wakeCond)
        pthread_cond_destroy(doneCond)
        pthread_mutex_destroy(mutex)
        wakeCond.deallocate()
        doneCond.deallocate()
        mutex.deallocate()
        slots.deinitialize(count: 48)
        UnsafeMutableRawPointer(slots).deallocate()
    }

    /// Runs `body(i)` for every `i` in `0..<iterations`, on up to `threadCount` threads (the caller
    /// included). Returns when all iterations have finished.
    @usableFromInline package func parallelFor(_ iterations: Int, _ body: (Int) -> Void) {
        if iterations <= 0 { return }
        let threads = min(threadCount, iterations)
        if threads <= 1
            || !busy.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged
        {
            for i in 0..<iterations { body(i) }
            return
        }
        defer { busy.store(false, ordering: .releasing) }
        if serialUntil.load(ordering: .relaxed) != 0 && Self.nowNs() < serialUntil.load(ordering: .relaxed) {
            for i in 0..<iterations { body(i) }
            return
        }
        if workers.count < threads - 1 { spawnWorkers(threads - 1) }

        withoutActuallyEscaping(body) { escapable in
            var fn = escapable
            withUnsafeMutablePointer(to: &fn) { fp in
                jobBody = UnsafeMutableRawPointer(fp)
                jobIterations = iterations
                jobWorkers = threads - 1
                nextItem.pointee.store(0, ordering: .relaxed)
                state.pointee.store(0, ordering: .releasing)
                generation.pointee.wrappingAdd(1, ordering: .releasing)
                pthread_mutex_lock(mutex)
                if sleepers > 0 { pthread_cond_broadcast(wakeCond) }
                pthread_mutex_unlock(mutex)

                let start = Self.nowNs()
                while true {
                    let i = nextItem.pointee.wrappingAdd(1, ordering: .relaxed).oldValue
                    if i >= iterations { break }
                    fp.pointee(i)
                }
                // Shut out workers that have not joined yet, then wait for those inside.
                let s = state.pointee.bitwiseOr(Self.closedBit, ordering: .acquiringAndReleasing).newValue
                if s & Self.countMask != 0 {
                    let mid = Self.nowNs()
                    waitForWorkers()
                    let waited = Self.nowNs() - mid
                    if waited > 100_000 && waited > (mid - start) / 2 { noteLongWait(mid, since: start) }
                }
                jobBody = nil
            }
        }
    }

    /// A long wait for a worker is blamed on contention only if that worker was preempted by
    /// another thread of this (virtual) machine during the job (its involuntary context-switch
    /// count went up); hiccups of the host alone are ignored. Two such waits within 100 ms: workers
    /// stop spinning for 200 ms, so that a core shared with another busy process is not fought
    /// over. Three within 100 ms: parallelFor runs serially for 200 ms (then tries again): on an
    /// oversubscribed machine a second thread only adds waits. (A single preemption is
    /// not enough: kernels whose threads each run for milliseconds, such as the LSTM recurrence,
    /// see the odd preemption by system threads on an otherwise idle machine, and running them
    /// serially for 200 ms cost a sixth of a training run's speed.)
    private func noteLongWait(_ now: Int, since start: Int) {
        contentionEvents.wrappingAdd(1, ordering: .relaxed)
        if workerPreemptedAt.load(ordering: .relaxed) >= start {
            if now - earlierContended < 100_000_000 {
                serialUntil.store(now + 200_000_000, ordering: .relaxed)
            }
            if now - lastContended < 100_000_000 {
                contendedUntil.store(now + 200_000_000, ordering: .relaxed)
            }
            earlierContended = lastContended
            lastContended = now
        }
    }

    /// Involuntary context switches of the calling thread (0 where unsupported).
    static func involuntarySwitches() -> Int {
        #if os(Linux)
        var ru = rusage()
        if getrusage(__rusage_who_t(1) /* RUSAGE_THREAD */, &ru) == 0 { return Int(ru.ru_nivcsw) }
        #endif
        return 0
    }

    private func waitForWorkers() {
        let deadline = Self.nowNs() &+ 20_000
        var spins = 0
        while state.pointee.load(ordering: .acquiring) & Self.countMask != 0 {
            spins &+= 1
            if spins & 63 == 0 && Self.nowNs() > deadline {
                pthread_mutex_lock(mutex)
                callerSleeping = true
                while state.pointee.load(ordering: .acquiring) & Self.countMask != 0 {
                    pthread_cond_wait(doneCond, mutex)
                }
                callerSleeping = false
                pthread_mutex_unlock(mutex)
                return
            }
        }
    }

    private func spawnWorkers(_ count: Int) {
        while workers.count < count {
            let ctx = Unmanaged.passRetained(WorkerContext(pool: self, index: workers.count)).toOpaque()
            #if canImport(Darwin)
            var tid: pthread_t? = nil
            #else
            var tid = pthread_t()
            #endif
            let rc = pthread_create(&tid, nil, { raw in
                #if canImport(Darwin)
                let ctx = Unmanaged<WorkerContext>.fromOpaque(raw).takeRetainedValue()
                #else
                let ctx = Unmanaged<WorkerContext>.fromOpaque(raw!).takeRetainedValue()
                #endif
                ctx.pool.workerLoop(index: ctx.index)
                return nil
            }, ctx)
            if rc != 0 {
                Unmanaged<WorkerContext>.fromOpaque(ctx).release()
                return
            }
            #if canImport(Darwin)
            workers.append(tid!)
            #else
            workers.append(tid)
            #endif
        }
    }

    private final class WorkerContext {
        unowned(unsafe) let pool: ThreadPool
        let index: Int
        init(pool: ThreadPool, index: Int) { self.pool = pool; self.index = index }
    }

    private func workerLoop(index: Int) {
        var seen = 0
        var switches = Self.involuntarySwitches()
        while true {
            // Wait for a new generation: spin briefly, then sleep.
            if generation.pointee.load(ordering: .acquiring) == seen {
                let now = Self.nowNs()
                let contended = now < contendedUntil.load(ordering: .relaxed)
                let deadline = contended ? now : now &+ spinNs.load(ordering: .relaxed)
                var spins = 0
                while generation.pointee.load(ordering: .acquiring) == seen && !shutdown.load(ordering: .relaxed) {
                    spins &+= 1
                    if (spins & 127 == 0 || contended) && Self.nowNs() >= deadline {
                        pthread_mutex_lock(mutex)
                        sleepers += 1
                        while generation.pointee.load(ordering: .acquiring) == seen
                            && !shutdown.load(ordering: .relaxed)
                        {
                            pthread_cond_wait(wakeCond, mutex)
                        }
                        sleepers -= 1
                        pthread_mutex_unlock(mutex)
                        break
                    }
                }
            }
            if shutdown.load(ordering: .relaxed) { return }
            seen = generation.pointee.load(ordering: .acquiring)

            // Join the current job unless the caller already closed it.
            var s = state.pointee.load(ordering: .relaxed)
            var joined = false
            while s & Self.closedBit == 0 {
                let r = state.pointee.compareExchange(expected: s, desired: s + 1, ordering: .acquiringAndReleasing)
                if r.exchanged { joined = true; break }
                s = r.original
            }
            if !joined { continue }
            let joinedAt = Self.nowNs()
            if index < jobWorkers, let raw = jobBody {
                let fp = raw.assumingMemoryBound(to: ((Int) -> Void).self)
                let iterations = jobIterations
                while true {
                    let i = nextItem.pointee.wrappingAdd(1, ordering: .relaxed).oldValue
                    if i >= iterations { break }
                    fp.pointee(i)
                }
            }
            let leftAt = Self.nowNs()
            if leftAt - joinedAt > 50_000 {
                let now = Self.involuntarySwitches()
                if now != switches { workerPreemptedAt.store(leftAt, ordering: .relaxed) }
                switches = now
            }
            let after = state.pointee.wrappingSubtract(1, ordering: .acquiringAndReleasing).newValue
            if after == Self.closedBit {
                pthread_mutex_lock(mutex)
                if callerSleeping { pthread_cond_signal(doneCond) }
                pthread_mutex_unlock(mutex)
            }
        }
    }

    @inline(__always)
    static func nowNs() -> Int {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Int(ts.tv_sec) &* 1_000_000_000 &+ Int(ts.tv_nsec)
    }
}
