import XCTest
import FluxionData

final class Toy2DTests: XCTestCase {
    func testTwoMoonsIsSeededAndOnTheMoons() {
        var a = SeededGenerator(seed: 1), b = SeededGenerator(seed: 1)
        let x = Toy2D.twoMoons(count: 2000, noise: 0, dtype: .float64, using: &a)
        XCTAssertEqual(x.scalars, Toy2D.twoMoons(count: 2000, noise: 0, dtype: .float64, using: &b).scalars)
        let v = x.scalars
        for i in 0..<2000 {
            let (px, py) = (v[2 * i], v[2 * i + 1])
            let upper = (px * px + py * py - 1).magnitude < 1e-9
            let lower = ((px - 1) * (px - 1) + (py - 0.5) * (py - 0.5) - 1).magnitude < 1e-9
            XCTAssertTrue(upper || lower, "point (\(px), \(py)) is on neither moon")
        }
        XCTAssertEqual(x.mean(axis: 0).scalars[0], 0.5, accuracy: 0.05)
    }
}
