import XCTest
import Synchronization
import FluxionKernels

final class ThreadPoolTests: XCTestCase {
    func testEveryIterationRunsOnce() {
        for threads in [1, 2, 3, 8] {
            let pool = ThreadPool(threadCount: threads)
            for iterations in [0, 1, 2, 7, 100, 1000] {
                let counts = UnsafeMutablePointer<Atomic<Int>>.allocate(capacity: max(iterations, 1))
                for i in 0..<max(iterations, 1) { (counts + i).initialize(to: Atomic(0)) }
                pool.parallelFor(iterations) { i in counts[i].wrappingAdd(1, ordering: .relaxed) }
                for i in 0..<iterations {
                    XCTAssertEqual(counts[i].load(ordering: .relaxed), 1, "threads=\(threads) i=\(i)")
                }
                counts.deinitialize(count: max(iterations, 1))
                counts.deallocate()
            }
        }
    }

    func testManyBackToBackCalls() {
        let pool = ThreadPool(threadCount: 2)
        let total = Atomic<Int>(0)
        for _ in 0..<20_000 {
            pool.parallelFor(4) { i in total.wrappingAdd(i, ordering: .relaxed) }
        }
        XCTAssertEqual(total.load(ordering: .relaxed), 20_000 * 6)
    }

    func testCallsAfterWorkersSleep() {
        let pool = ThreadPool(threadCount: 2)
        pool.spinMicroseconds = 0
        let total = Atomic<Int>(0)
        for _ in 0..<50 {
            pool.parallelFor(16) { _ in total.wrappingAdd(1, ordering: .relaxed) }
            usleep(200)
        }
        XCTAssertEqual(total.load(ordering: .relaxed), 50 * 16)
    }

    func testNestedCallsRunInline() {
        let pool = ThreadPool(threadCount: 3)
        let total = Atomic<Int>(0)
        pool.parallelFor(8) { _ in
            pool.parallelFor(8) { _ in total.wrappingAdd(1, ordering: .relaxed) }
        }
        XCTAssertEqual(total.load(ordering: .relaxed), 64)
    }

    func testConcurrentCallersFromSeveralThreads() {
        let pool = ThreadPool(threadCount: 2)
        let total = Atomic<Int>(0)
        DispatchQueue.concurrentPerform(iterations: 4) { _ in
            for _ in 0..<500 {
                pool.parallelFor(10) { _ in total.wrappingAdd(1, ordering: .relaxed) }
            }
        }
        XCTAssertEqual(total.load(ordering: .relaxed), 4 * 500 * 10)
    }

    func testThreadCountIsSettable() {
        let pool = ThreadPool(threadCount: 2)
        pool.threadCount = 0
        XCTAssertEqual(pool.threadCount, 1)
        pool.threadCount = 3
        XCTAssertEqual(pool.threadCount, 3)
        let total = Atomic<Int>(0)
        pool.parallelFor(30) { _ in total.wrappingAdd(1, ordering: .relaxed) }
        pool.threadCount = 1
        pool.parallelFor(30) { _ in total.wrappingAdd(1, ordering: .relaxed) }
        XCTAssertEqual(total.load(ordering: .relaxed), 60)
        XCTAssertGreaterThanOrEqual(ThreadPool.shared.threadCount, 1)
    }

    func testPoolDeinitJoinsWorkers() {
        for _ in 0..<20 {
            let pool = ThreadPool(threadCount: 3)
            let total = Atomic<Int>(0)
            pool.parallelFor(9) { _ in total.wrappingAdd(1, ordering: .relaxed) }
            XCTAssertEqual(total.load(ordering: .relaxed), 9)
        }
    }
}
