// The umbrella module: `import Fluxion` brings in the public API of every Fluxion module.
// FluxionKernels (raw-pointer GEMM, vector math, the thread pool) is an implementation module:
// its declarations have `package` access and are not re-exported.
@_exported import FluxionCore
@_exported import FluxionNN
@_exported import FluxionOptim
@_exported import FluxionPlot
@_exported import FluxionGenerative
@_exported import FluxionData
