// swift-tools-version:6.0
// libFuzzer targets for Fluxion's file readers (see README.md). Build with run.sh, or:
//   swift build -c release -j 1 --package-path Fuzz --sanitize fuzzer -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library
import PackageDescription
import Foundation

// Every folder under Sources/ except FuzzSupport is one fuzz target: an executable of that name
// built from the folder's Swift file(s), which define `LLVMFuzzerTestOneInput` (libFuzzer's entry).
// Adding a target is adding a folder; run.sh finds them the same way.
let sources = Context.packageDirectory + "/Sources"
let fuzzTargets = ((try? FileManager.default.contentsOfDirectory(atPath: sources)) ?? [])
    .filter { $0 != "FuzzSupport" && !$0.hasPrefix(".") }
    .sorted()

let settings: [SwiftSetting] = [.swiftLanguageMode(.v5)]
// SwiftPM names a path dependency after its folder (the checkout's name, which varies), not after
// its manifest's `name`, so the product reference uses the folder name.
let fluxion = URL(fileURLWithPath: Context.packageDirectory).deletingLastPathComponent().lastPathComponent.lowercased()

let package = Package(
    name: "fluxion-fuzz",
    dependencies: [.package(path: "..")],
    targets: [
        .target(name: "FuzzSupport", dependencies: [.product(name: "Fluxion", package: fluxion)], swiftSettings: settings),
    ] + fuzzTargets.map {
        .executableTarget(name: $0, dependencies: ["FuzzSupport", .product(name: "Fluxion", package: fluxion)], swiftSettings: settings)
    }
)
