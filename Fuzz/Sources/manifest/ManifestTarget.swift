import Foundation
import Fluxion
import FuzzSupport

// A checkpoint's manifest.json as CheckpointStore.read verifies it: decoding must never trap, and
// a manifest that decodes must re-encode to bytes that decode to the same manifest.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzManifest(_ bytes: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let data = fuzzData(bytes, count)
    guard let manifest = fuzzDecode({ try CheckpointStore.Manifest.decode(data, path: "manifest.json") }) else { return 0 }
    let encoded = fuzzMust { try manifest.encoded() }
    let again = fuzzMust { try CheckpointStore.Manifest.decode(encoded, path: "manifest.json") }
    fuzzCheck(again == manifest, "manifest changed through encoding: \(manifest) -> \(again)")
    return 0
}
