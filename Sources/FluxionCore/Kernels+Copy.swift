import FluxionKernels

// Strided copies: the one kernel behind permute, expand, slice, pad, flip and concatenate. The
// pointer loop is FluxionKernels' `stridedCopyTyped` (StridedCopy.swift); this reads the tensors.

/// Copies `shape` elements from `src` (strided) into `dst` (strided), for any dtype.
func stridedCopy(from src: Tensor, offset srcOffset: Int, strides srcStrides: [Int],
                 into dst: inout Tensor, offset dstOffset: Int, strides dstStrides: [Int], shape: [Int]) {
    precondition(src.dtype == dst.dtype)
    if src.dtype == .float64 {
        src.withUnsafeBufferPointer(as: UInt64.self) { s in dst.withUnsafeMutableBufferPointer(as: UInt64.self) { d in
            stridedCopyTyped(s.baseAddress!, srcOffset, srcStrides, d.baseAddress!, dstOffset, dstStrides, shape)
        } }
    } else {
        src.withUnsafeBufferPointer(as: UInt32.self) { s in dst.withUnsafeMutableBufferPointer(as: UInt32.self) { d in
            stridedCopyTyped(s.baseAddress!, srcOffset, srcStrides, d.baseAddress!, dstOffset, dstStrides, shape)
        } }
    }
}
