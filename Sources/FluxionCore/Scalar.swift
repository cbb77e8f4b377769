import Foundation

/// The element types a float `Tensor` can hold. The protocol gives kernels the elementary functions
/// they need, so every kernel is written once, generically, and specialised for `Float` and `Double`.
public protocol TensorFloat: BinaryFloatingPoint, SIMDScalar, Sendable
where Self.RawSignificand: FixedWidthInteger {
    static var dtype: DType { get }
    static func exp(_ x: Self) -> Self
    static func log(_ x: Self) -> Self
    static func log1p(_ x: Self) -> Self
    static func expm1(_ x: Self) -> Self
    static func sin(_ x: Self) -> Self
    static func cos(_ x: Self) -> Self
    static func tanh(_ x: Self) -> Self
    static func erf(_ x: Self) -> Self
    static func pow(_ x: Self, _ y: Self) -> Self
}

extension Float: TensorFloat {
    public static var dtype: DType { .float32 }
    @inlinable public static func exp(_ x: Float) -> Float { Foundation.expf(x) }
    @inlinable public static func log(_ x: Float) -> Float { Foundation.logf(x) }
    @inlinable public static func log1p(_ x: Float) -> Float { Foundation.log1pf(x) }
    @inlinable public static func expm1(_ x: Float) -> Float { Foundation.expm1f(x) }
    @inlinable public static func sin(_ x: Float) -> Float { Foundation.sinf(x) }
    @inlinable public static func cos(_ x: Float) -> Float { Foundation.cosf(x) }
    @inlinable public static func tanh(_ x: Float) -> Float { Foundation.tanhf(x) }
    @inlinable public static func erf(_ x: Float) -> Float { Foundation.erff(x) }
    @inlinable public static func pow(_ x: Float, _ y: Float) -> Float { Foundation.powf(x, y) }
}

extension Double: TensorFloat {
    public static var dtype: DType { .float64 }
    @inlinable public static func exp(_ x: Double) -> Double { Foundation.exp(x) }
    @inlinable public static func log(_ x: Double) -> Double { Foundation.log(x) }
    @inlinable public static func log1p(_ x: Double) -> Double { Foundation.log1p(x) }
    @inlinable public static func expm1(_ x: Double) -> Double { Foundation.expm1(x) }
    @inlinable public static func sin(_ x: Double) -> Double { Foundation.sin(x) }
    @inlinable public static func cos(_ x: Double) -> Double { Foundation.cos(x) }
    @inlinable public static func tanh(_ x: Double) -> Double { Foundation.tanh(x) }
    @inlinable public static func erf(_ x: Double) -> Double { Foundation.erf(x) }
    @inlinable public static func pow(_ x: Double, _ y: Double) -> Double { Foundation.pow(x, y) }
}

/// Element type of a tensor. Float32 is the training default; Float64 exists for gradient checks
/// and the scientific pieces; Int32 holds indices and labels (it carries no derivatives).
public enum DType: String, Sendable, CustomStringConvertible {
    case float32, float64, int32

    /// Bytes per element.
    public var byteSize: Int { self == .float64 ? 8 : 4 }
    public var isFloatingPoint: Bool { self != .int32 }
    public var description: String { rawValue }
}
