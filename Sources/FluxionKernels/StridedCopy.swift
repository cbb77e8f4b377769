// Strided copies: the one kernel behind permute, expand, slice, pad, flip and concatenate
// (FluxionCore's `stridedCopy` calls it with the tensors' storage).

@inlinable @inline(__always)
package func stridedCopyTyped<E>(_ src: UnsafePointer<E>, _ srcOffset: Int, _ srcStrides: [Int],
                                 _ dst: UnsafeMutablePointer<E>, _ dstOffset: Int, _ dstStrides: [Int], _ shape: [Int]) {
    let rank = shape.count
    if rank == 0 { dst[dstOffset] = src[srcOffset]; return }
    let n = shape[rank - 1]
    let rows = shape.dropLast().reduce(1, *)
    if rows == 0 || n == 0 { return }
    let ss = srcStrides[rank - 1], ds = dstStrides[rank - 1]
    var index = [Int](repeating: 0, count: max(rank - 1, 1))
    var so = srcOffset, do_ = dstOffset
    for _ in 0..<rows {
        let s = src + so, d = dst + do_
        if ss == 1 && ds == 1 {
            d.update(from: s, count: n)
        } else {
            for i in 0..<n { d[i * ds] = s[i * ss] }
        }
        var axis = rank - 2
        while axis >= 0 {
            index[axis] += 1
            so += srcStrides[axis]; do_ += dstStrides[axis]
            if index[axis] < shape[axis] { break }
            so -= srcStrides[axis] * shape[axis]; do_ -= dstStrides[axis] * shape[axis]
            index[axis] = 0
            axis -= 1
        }
    }
}
