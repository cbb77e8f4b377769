// The umbrella module: `import Fluxion` brings in the public API of every Fluxion module.
@_exported import FluxionCore
@_exported import FluxionKernels
@_exported import FluxionNN
@_exported import FluxionOptim
@_exported import FluxionPlot
@_exported import FluxionGenerative
@_exported import FluxionData
