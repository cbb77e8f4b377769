import FluxionKernels

/// The buffer behind a tensor: raw, 64-byte aligned, counted by `MemoryAccounting`.
/// Tensors share a storage until one of them is mutated (copy-on-write, see `Tensor.withMutableStorage`).
@usableFromInline
final class TensorStorage {
    @usableFromInline let pointer: UnsafeMutableRawPointer
    @usableFromInline let byteCount: Int

    @usableFromInline
    init(byteCount: Int) {
        self.byteCount = byteCount
        pointer = MemoryAccounting.allocate(byteCount: byteCount)
    }

    deinit { MemoryAccounting.deallocate(pointer, byteCount: byteCount) }

    @usableFromInline
    func copy() -> TensorStorage {
        let s = TensorStorage(byteCount: byteCount)
        s.pointer.copyMemory(from: pointer, byteCount: byteCount)
        return s
    }
}
