import Foundation
import Fluxion
import FuzzSupport

// NPY.decode on arbitrary bytes: it must return or throw FluxionError, never trap. What decodes
// must re-encode to a file that decodes to the same shape and dtype with the same data bytes, and
// re-encodes identically.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzNPY(_ bytes: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let data = fuzzData(bytes, count)
    guard let t = fuzzDecode({ try NPY.decode(data, path: "input.npy") }) else { return 0 }
    let encoded = NPY.encode(t)
    let again = fuzzMust { try NPY.decode(encoded, path: "re-encoded.npy") }
    fuzzCheck(again.shape == t.shape && again.dtype == t.dtype, "changed: \(t.dtype) \(t.shape) -> \(again.dtype) \(again.shape)")
    let byteCount = t.shape.reduce(1, *) * t.dtype.byteSize
    // The body holds exactly the array's bytes (a longer body is rejected), so they are unchanged.
    fuzzCheck(encoded.suffix(byteCount) == data.suffix(byteCount), "data bytes changed")
    fuzzCheck(NPY.encode(again) == encoded, "encoding is not stable")
    return 0
}
