@_exported import FluxionCore
