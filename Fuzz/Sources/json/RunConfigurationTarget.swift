import Foundation
import Fluxion
import FuzzSupport

// A run folder's config.json decoded as TrainingRun.readConfiguration does (JSONDecoder into
// RunConfiguration): it must never trap. What decodes must survive its option accessors and
// re-encode (as TrainingRun writes it) to JSON that decodes to an equal configuration.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzRunConfiguration(_ bytes: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let data = fuzzData(bytes, count)
    guard let config = try? JSONDecoder().decode(RunConfiguration.self, from: data) else { return 0 }
    for key in config.options.keys {
        _ = fuzzDecode { try config.integer(key, default: 0) }
        _ = fuzzDecode { try config.number(key, default: 0) }
    }
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
    // (a value JSON cannot hold, e.g. an infinite learning rate, makes encode throw: not a trap)
    guard let encoded = try? encoder.encode(config) else { return 0 }
    let again = fuzzMust { try JSONDecoder().decode(RunConfiguration.self, from: encoded) }
    fuzzCheck(again == config, "configuration changed through JSON: \(config) -> \(again)")
    return 0
}
