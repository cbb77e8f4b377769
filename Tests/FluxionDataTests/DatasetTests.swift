import XCTest
import FluxionData

final class DatasetTests: XCTestCase {
    func testEveryToyDistributionIsSeededFiniteAndBounded() {
        for name in Toy2D.names {
            var a = SeededGenerator(seed: 3), b = SeededGenerator(seed: 3)
            let x = Toy2D.sample(name, count: 1000, dtype: .float64, using: &a)!
            XCTAssertEqual(x.shape, [1000, 2], name)
            XCTAssertEqual(x.scalars, Toy2D.sample(name, count: 1000, dtype: .float64, using: &b)!.scalars, name)
            XCTAssertTrue(x.scalars.allSatisfy { $0.isFinite && abs($0) < 6 }, name)
            XCTAssertGreaterThan(x.variance(axes: [0]).scalars.min()!, 0.05, "\(name) is spread out")
        }
        var rng = SeededGenerator(seed: 0)
        XCTAssertNil(Toy2D.sample("nope", count: 1, using: &rng))
    }

    func testToyShapesAreWhatTheirNamesSay() {
        var rng = SeededGenerator(seed: 1)
        // Circles: radii 1 and ½ without noise.
        for r in Toy2D.concentricCircles(count: 500, noise: 0, dtype: .float64, using: &rng).scalars.chunked() {
            let radius = (r.0 * r.0 + r.1 * r.1).squareRoot()
            XCTAssertTrue(abs(radius - 1) < 1e-9 || abs(radius - 0.5) < 1e-9)
        }
        // Eight Gaussians: every point within 0.6 of a centre on the circle of radius 2.
        for p in Toy2D.eightGaussians(count: 500, dtype: .float64, using: &rng).scalars.chunked() {
            XCTAssertEqual((p.0 * p.0 + p.1 * p.1).squareRoot(), 2, accuracy: 0.6)
        }
        // Checkerboard: ⌊x⌋ + ⌊y⌋ even, inside [−2, 2)².
        for p in Toy2D.checkerboard(count: 500, dtype: .float64, using: &rng).scalars.chunked() {
            XCTAssertTrue((-2..<2).contains(p.0) && (-2..<2).contains(p.1))
            XCTAssertEqual((Int(p.0.rounded(.down)) + Int(p.1.rounded(.down)) + 4) % 2, 0, "\(p)")
        }
    }

    func testDigitsSplitDequantisationAndBitsPerDimension() throws {
        let all = try Digits.load()
        XCTAssertEqual(all.count, 1797)
        let train = try Digits.load(.train), test = try Digits.load(.test)
        XCTAssertEqual(train.count, 1437)
        XCTAssertEqual(test.count, 360)
        XCTAssertEqual(Array(test.pixels.scalars[0..<64]), Array(all.pixels.scalars[0..<64]), "row 0 is a test image")
        XCTAssertEqual(Array(test.pixels.scalars[64..<128]), Array(all.pixels.scalars[320..<384]), "row 5 is the second test image")
        XCTAssertEqual(all.labels.int32s[0..<3], [0, 1, 2])
        var rng = SeededGenerator(seed: 0)
        let x = train.dequantized(using: &rng)
        XCTAssertTrue(x.floats.allSatisfy { $0 >= 0 && $0 < 1 })
        let back = (x.cast(to: .float64) * 17).scalars.map { $0.rounded(.down) }
        XCTAssertEqual(back, train.pixels.scalars, "dequantisation stays inside each pixel's bin")
        // The uniform density on [0, 1)^64 (log p = 0) gives log₂ 17 bits per dimension.
        XCTAssertEqual(Digits.bitsPerDimension(logDensity: 0), log2(17.0), accuracy: 1e-12)
    }

    func testShuffledBatchesVisitEveryExampleOncePerEpoch() {
        var rng = SeededGenerator(seed: 2)
        var batches = ShuffledBatches(count: 10, batchSize: 3)
        var seen: [Int32] = []
        for _ in 0..<3 { seen += batches.next(using: &rng).int32s }
        XCTAssertEqual(Set(seen).count, 9, "no repeats within an epoch")
        let next = batches.next(using: &rng).int32s
        XCTAssertEqual(next.count, 3)
    }
}

private extension Array where Element == Double {
    func chunked() -> [(Double, Double)] { stride(from: 0, to: count, by: 2).map { (self[$0], self[$0 + 1]) } }
}
