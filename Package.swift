// swift-tools-version:6.2
import PackageDescription

// NOTE(1): a target-CPU flag is mandatory for the SIMD kernels. Without it, `SIMD8<Float>`
// fused multiply-adds lower to scalar `fmaf` library calls (10x slower). haswell (AVX2 + FMA)
// runs on every x86 machine this project targets (Zen3 and later, Haswell and later). The flag
// is guarded by architecture so that other hosts still build.
#if arch(x86_64)
let cpuFlags: [SwiftSetting] = [.unsafeFlags(["-target-cpu", "haswell"])]
let cFlags: [CSetting] = [.unsafeFlags(["-mavx2", "-mfma"])]
#else
let cpuFlags: [SwiftSetting] = []
let cFlags: [CSetting] = []
#endif

// Only the raw kernels drop runtime checks: FluxionCore keeps its preconditions (shape errors must
// stop with a message in release builds too).
// Kernels and core are optimised in debug builds too: the test suite runs on them, and unoptimised
// SIMD code is 50-100x slower.
let fast: [SwiftSetting] = cpuFlags + [
    .unsafeFlags(["-Ounchecked", "-wmo"], .when(configuration: .release)),
    .unsafeFlags(["-O"], .when(configuration: .debug)),
    .swiftLanguageMode(.v5),
]
let standard: [SwiftSetting] = cpuFlags + [.swiftLanguageMode(.v5)]
// NOTE(2): the AVX-512 GEMM micro-kernel lives in a module of its own compiled for an AVX-512 CPU
// (skylake-avx512: AVX-512 F, CD, BW, DQ, VL); FluxionKernels calls it only after a
// run-time check of the processor, so the package still runs on AVX2-only machines.
#if arch(x86_64)
let avx512Flags: [SwiftSetting] = [.unsafeFlags(["-target-cpu", "skylake-avx512"])]
#else
let avx512Flags: [SwiftSetting] = []
#endif
let fastAVX512: [SwiftSetting] = avx512Flags + [
    .unsafeFlags(["-Ounchecked", "-wmo"], .when(configuration: .release)),
    .unsafeFlags(["-O"], .when(configuration: .debug)),
    .swiftLanguageMode(.v5),
]
let optimizedCore: [SwiftSetting] = standard + [.unsafeFlags(["-O"], .when(configuration: .debug))]

let package = Package(
    name: "fluxion",
    products: [
        .library(name: "Fluxion", targets: ["Fluxion"]),
        .executable(name: "fluxion", targets: ["FluxionCLI"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        .target(name: "FluxionKernelsAVX512", swiftSettings: fastAVX512),
        .target(name: "FluxionKernels", dependencies: ["FluxionKernelsAVX512"], swiftSettings: fast),
        .target(name: "FluxionCore", dependencies: ["FluxionKernels"], swiftSettings: optimizedCore),
        .target(name: "FluxionNN", dependencies: ["FluxionCore"], swiftSettings: standard),
        .target(name: "FluxionOptim", dependencies: ["FluxionCore", "FluxionKernels"], swiftSettings: standard),
        .target(name: "FluxionPlot", dependencies: ["FluxionCore"], swiftSettings: standard),
        .target(name: "FluxionData", dependencies: ["FluxionCore"],
                resources: [.copy("Resources/digits.csv"), .copy("Resources/digits.rst")], swiftSettings: standard),
        .target(name: "FluxionGenerative", dependencies: ["FluxionCore", "FluxionNN", "FluxionOptim", "FluxionData"], swiftSettings: standard),
        .target(name: "Fluxion", dependencies: ["FluxionCore", "FluxionKernels", "FluxionNN", "FluxionOptim",
                                                "FluxionPlot", "FluxionGenerative", "FluxionData"], swiftSettings: standard),
        .executableTarget(
            name: "FluxionCLI",
            dependencies: ["Fluxion", "FluxionKernels", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            swiftSettings: standard),
        .target(name: "_FluxionTestSupport", dependencies: ["FluxionCore"], swiftSettings: standard),
        .testTarget(name: "FluxionKernelsTests", dependencies: ["FluxionKernels"], swiftSettings: standard),
        .testTarget(name: "FluxionCoreTests", dependencies: ["FluxionCore", "_FluxionTestSupport"], swiftSettings: standard),
        .testTarget(name: "FluxionNNTests", dependencies: ["FluxionNN", "FluxionOptim", "_FluxionTestSupport"],
                    exclude: ["Fixtures"], swiftSettings: standard),
        .testTarget(name: "FluxionOptimTests", dependencies: ["FluxionOptim", "_FluxionTestSupport"], swiftSettings: standard),
        .testTarget(name: "FluxionDataTests", dependencies: ["FluxionData", "_FluxionTestSupport"], swiftSettings: standard),
        // Runs the built `fluxion` program (the dependency makes `swift test` build it).
        .testTarget(name: "FluxionCLITests", dependencies: ["FluxionCLI"], swiftSettings: standard),
        .testTarget(name: "FluxionGenerativeTests", dependencies: ["FluxionGenerative", "FluxionOptim", "FluxionPlot", "FluxionData", "_FluxionTestSupport"], swiftSettings: standard),
    ]
)
