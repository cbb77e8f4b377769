#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
#if arch(x86_64)
import FluxionKernelsAVX512
#endif

/// Run-time choice of the Float GEMM micro-kernel. The AVX-512 kernel (6 x 32 tiles from two
/// packed B panels, module FluxionKernelsAVX512) is used when the processor reports AVX-512
/// F, CD, BW, DQ and VL (Linux: /proc/cpuinfo flags) and `FLUXION_AVX512` is not `0`.
package enum GemmCPU {
    /// The first processor's /proc/cpuinfo entries, key → value ("flags", "model name", "cpu
    /// family", "model", …); empty where the file does not exist.
    package static let cpuinfo: [String: String] = {
        #if os(Linux)
        guard let f = fopen("/proc/cpuinfo", "r") else { return [:] }
        defer { fclose(f) }
        var line: UnsafeMutablePointer<CChar>? = nil
        var cap = 0
        defer { free(line) }
        func trimmed(_ t: Substring) -> String {
            var t = t
            while let c = t.first, c.isWhitespace { t.removeFirst() }
            while let c = t.last, c.isWhitespace { t.removeLast() }
            return String(t)
        }
        var entries = [String: String]()
        while getline(&line, &cap, f) > 0 {
            let s = String(cString: line!)
            guard let colon = s.firstIndex(of: ":") else {
                if !entries.isEmpty { break }  // the blank line after the first processor
                continue
            }
            let key = trimmed(s[..<colon])
            if entries[key] == nil { entries[key] = trimmed(s[s.index(after: colon)...]) }
        }
        return entries
        #else
        return [:]
        #endif
    }()

    /// Whether the processor supports the AVX-512 kernel.
    package static let hasAVX512: Bool = {
        #if arch(x86_64) && os(Linux)
        let flags = Set((cpuinfo["flags"] ?? "").split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init))
        return ["avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl"].allSatisfy(flags.contains)
        #else
        return false
        #endif
    }()

    /// Use the AVX-512 kernel (default: when supported, unless FLUXION_AVX512=0). Settable for tests
    /// and A/B timing; setting it true on a processor without AVX-512 has no effect.
    package static var useAVX512: Bool {
        get { enabled && hasAVX512 }
        set { enabled = newValue }
    }
    nonisolated(unsafe) static var enabled: Bool = {
        guard let v = getenv("FLUXION_AVX512") else { return true }
        return String(cString: v) != "0"
    }()
}

extension Float {
    /// The 6 x 32 micro-kernel over two adjacent packed B panels, when available.
    @inline(__always)
    static var wideMicroKernel: ((Int, UnsafePointer<Float>, UnsafePointer<Float>, UnsafePointer<Float>,
                                  UnsafeMutablePointer<Float>, Int, Int, Int, Float, Float) -> Void)? {
        #if arch(x86_64)
        return GemmCPU.useAVX512 ? sgemmMicroKernel6x32 : nil
        #else
        return nil
        #endif
    }
}
