import XCTest
import FluxionKernels

final class FMAPeakTests: XCTestCase {
    /// The chains compute what they claim (acc = acc·a + b, 12 chains starting at 1…12, summed over
    /// the lanes), at each width the processor runs; so the timed loop is real work.
    func testChainsComputeTheirRecurrence() {
        let rounds = 1000
        func expected(_ a: Double, _ b: Double, lanes: Int) -> Double {
            var total = 0.0
            for start in 1...12 {
                var x = Double(start)
                for _ in 0..<rounds { x = x * a + b }
                total += x * Double(lanes)
            }
            return total
        }
        var widths = [256]
        if GemmCPU.hasAVX512 { widths.append(512) }
        for bits in widths {
            let f = FMAPeak.chains(bits: bits, double: false, rounds: rounds)
            XCTAssertEqual(f, expected(0.999_99, 1e-6, lanes: bits / 32), accuracy: 1e-4 * f, "Float32, \(bits) bits")
            let d = FMAPeak.chains(bits: bits, double: true, rounds: rounds)
            XCTAssertEqual(d, expected(0.999_999, 1e-7, lanes: bits / 64), accuracy: 1e-9, "Float64, \(bits) bits")
        }
    }

    /// Every width the processor has is measured, Float64 at about half of Float32, all positive.
    func testMeasureReportsEveryWidth() {
        let figures = FMAPeak.measure(threads: 1, seconds: 0.02)
        XCTAssertEqual(figures.count, GemmCPU.hasAVX512 ? 4 : 2)
        for f in figures { XCTAssertTrue(f.total > 0 && f.total.isFinite && f.perThread == f.total) }
        let f32 = figures.first { !$0.double && $0.vectorBits == 256 }!.total
        let f64 = figures.first { $0.double && $0.vectorBits == 256 }!.total
        XCTAssertEqual(f64 / f32, 0.5, accuracy: 0.25, "Float64 lanes are half as many")
    }
}
