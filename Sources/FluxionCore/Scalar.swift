import Foundation

/// The element types a float `Tensor` can hold. The protocol gives kernels the elementary functions
/// they need, so every kernel is written once, generically, and specialised for `Float` and `Double`.
public protocol TensorFloat: BinaryFloatingPoint, SIMDScalar, Sendable
where Self.RawSignificand: FixedWidthInteger {
    /// The `DType` that stores this type.
    static var dtype: DType { get }
    /// eˣ.
    static func exp(_ x: Self) -> Self
    /// ln x.
    static func log(_ x: Self) -> Self
    /// ln(1 + x), accurate for small x.
    static func log1p(_ x: Self) -> Self
    /// eˣ − 1, accurate for small x.
    static func expm1(_ x: Self) -> Self
    /// sin x.
    static func sin(_ x: Self) -> Self
    /// cos x.
    static func cos(_ x: Self) -> Self
    /// tanh x.
    static func tanh(_ x: Self) -> Self
    /// The error function erf x = (2/√π) ∫₀ˣ e^(−t²) dt.
    static func erf(_ x: Self) -> Self
    /// xʸ.
    static func pow(_ x: Self, _ y: Self) -> Self
}

extension Float: TensorFloat {
    /// `.float32`.
    public static var dtype: DType { .float32 }
    /// eˣ (C's `expf`).
    @inlinable public static func exp(_ x: Float) -> Float { Foundation.expf(x) }
    /// ln x (C's `logf`).
    @inlinable public static func log(_ x: Float) -> Float { Foundation.logf(x) }
    /// ln(1 + x) (C's `log1pf`).
    @inlinable public static func log1p(_ x: Float) -> Float { Foundation.log1pf(x) }
    /// eˣ − 1 (C's `expm1f`).
    @inlinable public static func expm1(_ x: Float) -> Float { Foundation.expm1f(x) }
    /// sin x (C's `sinf`).
    @inlinable public static func sin(_ x: Float) -> Float { Foundation.sinf(x) }
    /// cos x (C's `cosf`).
    @inlinable public static func cos(_ x: Float) -> Float { Foundation.cosf(x) }
    /// tanh x (C's `tanhf`).
    @inlinable public static func tanh(_ x: Float) -> Float { Foundation.tanhf(x) }
    /// erf x (C's `erff`).
    @inlinable public static func erf(_ x: Float) -> Float { Foundation.erff(x) }
    /// xʸ (C's `powf`).
    @inlinable public static func pow(_ x: Float, _ y: Float) -> Float { Foundation.powf(x, y) }
}

extension Double: TensorFloat {
    /// `.float64`.
    public static var dtype: DType { .float64 }
    /// eˣ (C's `exp`).
    @inlinable public static func exp(_ x: Double) -> Double { Foundation.exp(x) }
    /// ln x (C's `log`).
    @inlinable public static func log(_ x: Double) -> Double { Foundation.log(x) }
    /// ln(1 + x) (C's `log1p`).
    @inlinable public static func log1p(_ x: Double) -> Double { Foundation.log1p(x) }
    /// eˣ − 1 (C's `expm1`).
    @inlinable public static func expm1(_ x: Double) -> Double { Foundation.expm1(x) }
    /// sin x (C's `sin`).
    @inlinable public static func sin(_ x: Double) -> Double { Foundation.sin(x) }
    /// cos x (C's `cos`).
    @inlinable public static func cos(_ x: Double) -> Double { Foundation.cos(x) }
    /// tanh x (C's `tanh`).
    @inlinable public static func tanh(_ x: Double) -> Double { Foundation.tanh(x) }
    /// erf x (C's `erf`).
    @inlinable public static func erf(_ x: Double) -> Double { Foundation.erf(x) }
    /// xʸ (C's `pow`).
    @inlinable public static func pow(_ x: Double, _ y: Double) -> Double { Foundation.pow(x, y) }
}

/// Element type of a tensor. Float32 is the training default; Float64 exists for gradient checks
/// and the scientific pieces; Int32 holds indices and labels (it carries no derivatives).
public enum DType: String, Sendable, CustomStringConvertible {
    case float32, float64, int32

    /// Bytes per element.
    public var byteSize: Int { self == .float64 ? 8 : 4 }
    /// True for `float32` and `float64`, false for `int32`.
    public var isFloatingPoint: Bool { self != .int32 }
    /// The raw name: `float32`, `float64` or `int32`.
    public var description: String { rawValue }
}
