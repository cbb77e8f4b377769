import Foundation

/// The element types of the generic raw kernels: Float and Double, the float types of FluxionCore's
/// tensors. The protocol gives the kernels the elementary functions they use (the same C functions
/// as FluxionCore's `TensorFloat`). A public protocol cannot refine a package one, so FluxionCore's
/// generic code that calls these kernels asks for `TensorFloat & KernelFloat`.
@usableFromInline package protocol KernelFloat: BinaryFloatingPoint, SIMDScalar, Codable, Sendable {
    static func exp(_ x: Self) -> Self
    static func log(_ x: Self) -> Self
    static func tanh(_ x: Self) -> Self
}

extension Float: KernelFloat {
    @inlinable package static func exp(_ x: Float) -> Float { Foundation.expf(x) }
    @inlinable package static func log(_ x: Float) -> Float { Foundation.logf(x) }
    @inlinable package static func tanh(_ x: Float) -> Float { Foundation.tanhf(x) }
}

extension Double: KernelFloat {
    @inlinable package static func exp(_ x: Double) -> Double { Foundation.exp(x) }
    @inlinable package static func log(_ x: Double) -> Double { Foundation.log(x) }
    @inlinable package static func tanh(_ x: Double) -> Double { Foundation.tanh(x) }
}
