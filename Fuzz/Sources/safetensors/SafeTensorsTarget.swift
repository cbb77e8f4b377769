import Foundation
import Fluxion
import FuzzSupport

// SafeTensors.decode on arbitrary bytes: it must return or throw FluxionError, never trap. What
// decodes must load (or fail with a FluxionError) into a small fixed model, and re-encode to a
// file that decodes to the same tensors, with the same data bytes, and re-encodes identically.

/// The model every decoded file is loaded into (copied per input).
nonisolated(unsafe) let template: MLP = {
    var rng = SeededGenerator(seed: 1)
    return MLP(sizes: [3, 4, 2], using: &rng)
}()

/// The data section: everything after the 8-byte length and the header.
func body(_ data: Data) -> Data {
    var n = 0
    for i in 0..<8 { n |= Int(data[data.startIndex + i]) << (8 * i) }
    return data.suffix(from: data.startIndex + 8 + n)
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSafeTensors(_ bytes: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let data = fuzzData(bytes, count)
    guard let file = fuzzDecode({ try SafeTensors.decode(data, path: "input.safetensors") }) else { return 0 }
    fuzzCheck(file.names.count == file.tensors.count && Set(file.names).count == file.names.count,
              "names \(file.names.count) and tensors \(file.tensors.count) out of step")

    for strict in [true, false] {
        var model = template
        if fuzzDecode({ try model.load(from: file, path: "input.safetensors", strict: strict) }) != nil {
            let y = model(Tensor.zeros(shape: [1, 3], dtype: .float32))
            fuzzCheck(y.shape == [1, 2], "loaded model gives shape \(y.shape)")
        }
    }
    let sub = file.entries(withPrefix: "layers.0.")
    fuzzCheck(sub.names.allSatisfy { sub[$0] != nil }, "entries(withPrefix:) lost a tensor")

    let encoded = fuzzMust { try SafeTensors.encode(file.names.map { ($0, file[$0]!) }, metadata: file.metadata) }
    let again = fuzzMust { try SafeTensors.decode(encoded, path: "re-encoded.safetensors") }
    fuzzCheck(again.names == file.names, "names changed: \(file.names) -> \(again.names)")
    fuzzCheck(again.metadata == file.metadata, "metadata changed")
    for name in file.names {
        let (a, b) = (file[name]!, again[name]!)
        fuzzCheck(a.shape == b.shape && a.dtype == b.dtype, "tensor \(name) changed: \(a.dtype) \(a.shape) -> \(b.dtype) \(b.shape)")
    }
    // The tensors cover the body exactly, in file order, so the data bytes are unchanged.
    fuzzCheck(body(encoded) == body(data), "data bytes changed")
    let twice = fuzzMust { try SafeTensors.encode(again.names.map { ($0, again[$0]!) }, metadata: again.metadata) }
    fuzzCheck(twice == encoded, "encoding is not stable")
    return 0
}
