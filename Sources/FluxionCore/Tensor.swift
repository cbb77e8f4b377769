import FluxionKernels

/// An n-dimensional array of `Float`, `Double` or `Int32` with value semantics.
///
/// Storage is contiguous, row-major and copy-on-write: copies share a buffer until one is mutated.
/// Outside a differentiation transform a tensor is just shape, dtype and buffer; inside one it may
/// also carry autodiff state (a reverse-mode node and forward-mode tangents, see `Autodiff.swift`).
public struct Tensor {
    @usableFromInline var storage: TensorStorage
    /// Sizes of the axes, outermost first. A scalar has shape `[]`.
    public let shape: [Int]
    /// Element type.
    public let dtype: DType
    /// Number of elements (product of `shape`).
    public let count: Int
    /// Autodiff state; nil for every tensor outside a transform.
    @usableFromInline var ad: ADState?
    /// The exact value of a *weak* scalar (NOTE(8)): a tensor made from a Swift scalar without a
    /// dtype, which takes the dtype of the tensor it meets. nil for every other tensor.
    @usableFromInline var weakValue: Double?

    @usableFromInline
    init(storage: TensorStorage, shape: [Int], dtype: DType, count: Int) {
        self.storage = storage
        self.shape = shape
        self.dtype = dtype
        self.count = count
        self.ad = nil
        self.weakValue = nil
    }

    /// An uninitialised tensor (internal: kernels fill it).
    @usableFromInline
    init(uninitializedShape shape: [Int], dtype: DType) {
        var n = 1
        for d in shape {
            precondition(d >= 0, "Tensor: negative axis size in shape \(shape)")
            n *= d
        }
        self.init(storage: TensorStorage(byteCount: n * dtype.byteSize), shape: shape, dtype: dtype, count: n)
    }

    /// Number of axes.
    public var rank: Int { shape.count }

    /// A float tensor from Swift `Double` values, reshaped to `shape` (default: one axis), stored
    /// as `dtype` — Float32 unless asked (NOTE(8)): `Tensor([1.0, 2.0])` is Float32,
    /// `Tensor([1.0, 2.0], dtype: .float64)` Float64.
    public init(_ values: [Double], shape: [Int]? = nil, dtype: DType = .float32) {
        switch dtype {
        case .float64: self.init(copying: values, shape: shape, dtype: .float64)
        case .float32: self.init(copying: values.map { Float($0) }, shape: shape, dtype: .float32)
        case .int32: self.init(values.map { Int32($0) }, shape: shape)
        }
    }

    /// A Float32 tensor from Swift `Float` values.
    public init(_ values: [Float], shape: [Int]? = nil) {
        self.init(copying: values, shape: shape, dtype: .float32)
    }

    /// An int32 tensor (indices, labels).
    public init(_ values: [Int32], shape: [Int]? = nil) {
        self.init(copying: values, shape: shape, dtype: .int32)
    }

    /// An int32 tensor from Swift `Int`s (what an integer array literal makes: `Tensor([0, 2, 1])`).
    /// Every value must fit in Int32.
    public init(_ values: [Int], shape: [Int]? = nil) {
        self.init(values.map { v -> Int32 in
            precondition(v >= Int(Int32.min) && v <= Int(Int32.max), "Tensor(_: [Int]): \(v) does not fit in int32")
            return Int32(v)
        }, shape: shape)
    }

    private init<T>(copying values: [T], shape: [Int]?, dtype: DType) {
        let shape = shape ?? [values.count]
        self.init(uninitializedShape: shape, dtype: dtype)
        precondition(count == values.count,
                     "Tensor(_:shape:): \(values.count) values do not fill shape \(shape)")
        values.withUnsafeBufferPointer { src in
            if count > 0 { storage.pointer.copyMemory(from: src.baseAddress!, byteCount: count * dtype.byteSize) }
        }
    }

    /// A scalar (rank-0) tensor. Without `dtype` it is *weak* (NOTE(8)): Float32 on its own, and the
    /// dtype of the other operand when it meets a tensor (`Tensor(2.0) * x` has x's dtype).
    public init(_ value: Double, dtype: DType? = nil) {
        self.init([value], shape: [], dtype: dtype ?? .float32)
        if dtype == nil { weakValue = value }
    }

    /// True for a weak scalar (NOTE(8)): made from a Swift scalar without a dtype.
    public var isWeak: Bool { weakValue != nil }

    /// Typed read-only access to the elements. `T` must match `dtype`.
    @inlinable
    public func withUnsafeBufferPointer<T, R>(as type: T.Type, _ body: (UnsafeBufferPointer<T>) throws -> R) rethrows -> R {
        precondition(MemoryLayout<T>.size == dtype.byteSize, "withUnsafeBufferPointer: element type \(T.self) does not match dtype \(dtype)")
        return try withExtendedLifetime(storage) {
            try body(UnsafeBufferPointer(start: storage.pointer.assumingMemoryBound(to: T.self), count: count))
        }
    }

    /// Typed mutable access; copies the buffer first if it is shared (copy-on-write).
    @inlinable
    public mutating func withUnsafeMutableBufferPointer<T, R>(as type: T.Type, _ body: (UnsafeMutableBufferPointer<T>) throws -> R) rethrows -> R {
        precondition(MemoryLayout<T>.size == dtype.byteSize, "withUnsafeMutableBufferPointer: element type \(T.self) does not match dtype \(dtype)")
        if !isKnownUniquelyReferenced(&storage) { storage = storage.copy() }
        return try withExtendedLifetime(storage) {
            try body(UnsafeMutableBufferPointer(start: storage.pointer.assumingMemoryBound(to: T.self), count: count))
        }
    }

    /// The elements as `Double`s, row-major.
    public var scalars: [Double] {
        switch dtype {
        case .float32: return withUnsafeBufferPointer(as: Float.self) { $0.map { Double($0) } }
        case .float64: return withUnsafeBufferPointer(as: Double.self) { Array($0) }
        case .int32: return withUnsafeBufferPointer(as: Int32.self) { $0.map { Double($0) } }
        }
    }

    /// The elements as `Float`s (converted if needed).
    public var floats: [Float] {
        switch dtype {
        case .float32: return withUnsafeBufferPointer(as: Float.self) { Array($0) }
        case .float64: return withUnsafeBufferPointer(as: Double.self) { $0.map { Float($0) } }
        case .int32: return withUnsafeBufferPointer(as: Int32.self) { $0.map { Float($0) } }
        }
    }

    /// The elements as `Int32`s (float values truncated).
    public var int32s: [Int32] {
        switch dtype {
        case .int32: return withUnsafeBufferPointer(as: Int32.self) { Array($0) }
        default: return scalars.map { Int32($0) }
        }
    }

    /// The value of a one-element tensor.
    public var item: Double {
        precondition(count == 1, "item: tensor of shape \(shape) has \(count) elements, expected 1")
        return scalars[0]
    }

    /// Element at a full multi-index, as `Double`.
    public func scalar(at index: [Int]) -> Double {
        precondition(index.count == rank, "scalar(at:): index \(index) has \(index.count) entries for shape \(shape)")
        var offset = 0
        for (i, (ix, d)) in zip(index, shape).enumerated() {
            precondition(ix >= -d && ix < d, "scalar(at:): index \(ix) out of range for axis \(i) of size \(d) (shape \(shape))")
            offset = offset * d + (ix < 0 ? ix + d : ix)
        }
        switch dtype {
        case .float32: return withUnsafeBufferPointer(as: Float.self) { Double($0[offset]) }
        case .float64: return withUnsafeBufferPointer(as: Double.self) { $0[offset] }
        case .int32: return withUnsafeBufferPointer(as: Int32.self) { Double($0[offset]) }
        }
    }
}

extension Tensor: CustomStringConvertible {
    /// `Tensor(dtype, shape: [...], nested values)`; over 1,000 elements, only the count.
    public var description: String {
        let values = scalars
        func render(_ axis: Int, _ offset: Int) -> String {
            if axis == rank {
                return dtype == .int32 ? String(Int(values[offset])) : String(values[offset])
            }
            let stride = shape[(axis + 1)...].reduce(1, *)
            let items = (0..<shape[axis]).map { render(axis + 1, offset + $0 * stride) }
            return "[" + items.joined(separator: ", ") + "]"
        }
        let body = count > 1000 ? "[\(count) elements]" : render(0, 0)
        return "Tensor(\(dtype), shape: \(shape), \(body))"
    }
}

/// Normalises a possibly negative axis for a tensor of the given rank.
@inlinable
func normalizeAxis(_ axis: Int, rank: Int, _ op: String) -> Int {
    let a = axis < 0 ? axis + rank : axis
    precondition(a >= 0 && a < max(rank, 1), "\(op): axis \(axis) out of range for rank \(rank)")
    return a
}
