import XCTest
@testable import FluxionCore

/// NOTE(8), the dtype rule, as a table of cases: (expression, dtype, values).
final class DTypeRuleTests: XCTestCase {
    func testTableOfCases() {
        let n: Int = 3
        let doubles: [Double] = [0.5, -1.0, 2.0]
        let x64 = Tensor([1.5, 2.0], dtype: .float64)
        let cases: [(String, Tensor, DType, [Double])] = [
            // 1. Float32 is every initialiser's default; integer arrays make int32.
            ("Tensor([1.0, 2.0])", Tensor([1.0, 2.0]), .float32, [1, 2]),
            ("Tensor(doubles)", Tensor(doubles), .float32, [0.5, -1, 2]),
            ("Tensor([Float])", Tensor([Float(1), 2]), .float32, [1, 2]),
            ("Tensor([1, 2])", Tensor([1, 2]), .int32, [1, 2]),
            ("Tensor(2.0)", Tensor(2.0), .float32, [2]),
            ("zeros", Tensor.zeros(shape: [1]), .float32, [0]),
            ("arange", Tensor.arange(0, 2), .float32, [0, 1]),
            ("Float64 on request", Tensor([1.0, 2.0], dtype: .float64), .float64, [1, 2]),
            // 2. Swift scalars and tensors made from them are weak.
            ("Tensor([1.0, 2.0]) * Tensor(2.0)", Tensor([1.0, 2.0]) * Tensor(2.0), .float32, [2, 4]),
            ("Float64 * Tensor(2.0)", x64 * Tensor(2.0), .float64, [3, 4]),
            ("Tensor(2.0) * Float64", Tensor(2.0) * x64, .float64, [3, 4]),
            ("Float64 * Int", x64 * n, .float64, [4.5, 6]),
            ("Int * Float64", n * x64, .float64, [4.5, 6]),
            ("Float64 / Int", x64 / n, .float64, [0.5, 2.0 / 3]),
            ("Float64 - Int", x64 - n, .float64, [-1.5, -1]),
            ("Float64 + 0.1 keeps 0.1 exact", Tensor([0.0], dtype: .float64) + 0.1, .float64, [0.1]),
            ("Float64 * Tensor(0.1) exact", Tensor([1.0], dtype: .float64) * Tensor(0.1), .float64, [0.1]),
            ("weak * weak, then Float64", Tensor(0.1) * Tensor(3.0) * Tensor([1.0], dtype: .float64), .float64, [0.1 * 3]),
            ("where(mask, Float64, Tensor(0))", Tensor.where(Tensor([1.0, 0.0], dtype: .float64), x64, Tensor(0.0)), .float64, [1.5, 0]),
            ("Float64 maximum weak", Tensor.maximum(x64, Tensor(1.75)), .float64, [1.75, 2]),
            // 3. int32 meets float: the int converts (to Float32 against a weak scalar).
            ("Tensor([1, 2]) + 0.5", Tensor([1, 2]) + 0.5, .float32, [1.5, 2.5]),
            ("Tensor([1, 2]) * Float64", Tensor([1, 2]) * x64, .float64, [1.5, 4]),
            ("Tensor([1, 2]) .> 1.5", Tensor([1, 2]) .> 1.5, .float32, [0, 1]),
            // A Float32 model fed a tensor made from a Swift [Double]: Float32 throughout.
            ("Float32 layer of Tensor(doubles)", Tensor.linear(Tensor(doubles, shape: [1, 3]), weight: Tensor.ones(shape: [2, 3]), bias: Tensor.zeros(shape: [2])),
             .float32, [1.5, 1.5]),
        ]
        for (name, t, dtype, values) in cases {
            XCTAssertEqual(t.dtype, dtype, name)
            XCTAssertEqual(t.scalars.count, values.count, name)
            for (a, b) in zip(t.scalars, values) {
                XCTAssertEqual(a, b, accuracy: dtype == .float64 ? 1e-15 : 1e-6, name)
            }
        }
    }

    func testWeakness() {
        XCTAssertTrue(Tensor(2.0).isWeak)
        XCTAssertFalse(Tensor(2.0, dtype: .float32).isWeak, "an explicit dtype makes a strong tensor")
        XCTAssertTrue((Tensor(2.0) * Tensor(3.0)).isWeak, "weak ⊕ weak stays weak")
        XCTAssertEqual((Tensor(0.1) + Tensor(0.2)).weakValue, 0.1 + 0.2, "weak arithmetic keeps the exact value")
        XCTAssertFalse((Tensor(2.0) * Tensor([1.0])).isWeak)
        XCTAssertFalse(Tensor(2.0).exp().isWeak, "other operations make strong tensors")
        XCTAssertEqual((Tensor(2.0, dtype: .float64) * Tensor(3.0)).dtype, .float64)
        XCTAssertEqual((Tensor(2.0) * Tensor(3.0, dtype: .float64)).dtype, .float64)
    }

    func testWeakScalarsDifferentiate() {
        // A weak input meeting Float64 is converted differentiably; its gradient keeps its own dtype.
        let y = Tensor([1.0, 2.0], dtype: .float64)
        let g = gradient(at: Tensor(3.0)) { s in (s * y * y).sum() }
        XCTAssertEqual(g.dtype, .float32)
        XCTAssertEqual(g.item, 5, accuracy: 1e-6)
        let h = gradient(at: y) { y in (y * 2 + Tensor(0.5) * y).sum() }
        XCTAssertEqual(h.dtype, .float64)
        XCTAssertEqual(h.scalars, [2.5, 2.5])
    }

    func testMixedFloatDtypesSayHowToConvert() {
        let message = dtypeMismatchMessage("multiply", Tensor([1.0, 2.0], dtype: .float64), Tensor.zeros(shape: []))
        XCTAssertTrue(message.contains("multiply: dtypes differ: float64 [2] and float32 []"), message)
        XCTAssertTrue(message.contains(".cast(to: .float64)") && message.contains(".cast(to: .float32)"), message)
    }
}
