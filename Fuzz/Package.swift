// swift-tools-version:6.0
// libFuzzer targets for Fluxion's file readers (see README.md). Build with run.sh, or:
//   swift build -c release -j 1 --package-path Fuzz --sanitize fuzzer -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library
import PackageDescription
import Foundation  // URL, for the dependency name below

// One fuzz target per name: an executable built from Sources/<name>/, whose Swift file defines
// `LLVMFuzzerTestOneInput` (libFuzzer's entry point). To add a target, add its folder and its name
// here (run.sh runs every folder under Sources/ except FuzzSupport). The list is explicit rather
// than read from Sources/: SwiftPM caches the evaluated manifest by its text and would not notice
// a new folder.
let fuzzTargets = ["checkpoint", "json", "manifest", "npy", "safetensors"]

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
