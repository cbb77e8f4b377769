import XCTest
import FluxionData

final class SequenceTaskTests: XCTestCase {
    func testCopying() {
        var rng = SeededGenerator(seed: 1)
        let task = CopyingTask(symbols: 3, delay: 4)
        let b = task.batch(size: 2, using: &rng)
        XCTAssertEqual(b.inputs.shape, [2, 10])
        let row = Array(b.inputs.int32s[0..<10])
        XCTAssertEqual(Array(row[0..<3]), Array(b.targets.int32s[0..<3]))
        XCTAssertEqual(row[6], 9)
        XCTAssertTrue(row[3..<6].allSatisfy { $0 == 0 } && row[7...].allSatisfy { $0 == 0 })
    }

    func testAddingTargetsAreTheMarkedSums() {
        var rng = SeededGenerator(seed: 2)
        let task = AddingTask(length: 50)
        let b = task.batch(size: 4, using: &rng)
        let x = b.inputs.scalars, y = b.targets.scalars
        for i in 0..<4 {
            var sum = 0.0, marks = 0
            for t in 0..<50 where x[(i * 50 + t) * 2 + 1] == 1 { sum += x[(i * 50 + t) * 2]; marks += 1 }
            XCTAssertEqual(marks, 2)
            XCTAssertEqual(sum, y[i], accuracy: 1e-6)
        }
    }

    func testSelectiveCopyingAndInductionHeads() {
        var rng = SeededGenerator(seed: 3)
        let sc = SelectiveCopyingTask(symbols: 3, spread: 8, vocabulary: 8)
        let b = sc.batch(size: 1, using: &rng)
        let row = b.inputs.int32s
        XCTAssertEqual(row.filter { $0 >= 3 }, b.targets.int32s)
        XCTAssertEqual(row[8], 2)
        let ih = InductionHeadsTask(length: 12, vocabulary: 6)
        let c = ih.batch(size: 3, using: &rng)
        for i in 0..<3 {
            let r = Array(c.inputs.int32s[(i * 12)..<((i + 1) * 12)])
            XCTAssertEqual(r[11], 1)
            let p = r.firstIndex(of: 1)!
            XCTAssertLessThan(p, 11)
            XCTAssertEqual(r[p + 1], c.targets.int32s[i])
        }
    }

    func testCharactersRoundTrip() throws {
        let task = try CharacterTask(text: String(repeating: "hello world. ", count: 40), length: 16)
        XCTAssertEqual(task.vocabularySize, 9)  // h e l o space w r d .
        XCTAssertEqual(task.decode(try task.encode("hello")), "hello")
        XCTAssertThrowsError(try task.encode("help")) { e in XCTAssertTrue("\(e)".contains("character \"p\" is not in the vocabulary"), "\(e)") }
        var rng = SeededGenerator(seed: 4)
        let b = task.batch(size: 2, using: &rng)
        XCTAssertEqual(Array(b.inputs.int32s[1..<16]), Array(b.targets.int32s[0..<15]))
        XCTAssertThrowsError(try CharacterTask(text: "short", length: 16))
    }

    func testSequentialDigits() throws {
        let task = try SequentialDigitsTask()
        XCTAssertEqual(task.testSet.inputs.shape, [360, 64, 1])
        var rng = SeededGenerator(seed: 5)
        XCTAssertLessThanOrEqual(task.batch(size: 8, using: &rng).inputs.max().item, 1)
    }
}
