import ArgumentParser
import Fluxion
import Foundation

/// `fluxion hippo`: HiPPO's online function approximation (SPEC §10). A fixed seeded signal on
/// [0, 1] is fed sample by sample into LegS and LegT memories; the picture overlays the signal and
/// its reconstructions from the coefficients at t = 1. Prints one JSON line with the errors.
struct HiPPOCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hippo",
        abstract: "HiPPO online reconstruction: a signal and its LegS/LegT memories' reconstructions (PNG, JSON errors).")

    @Option(help: "State size N (Legendre coefficients).") var size: Int = 64
    @Option(help: "Samples of the signal on [0, 1], fed one by one.") var samples: Int = 2000
    @Option(help: "Random seed of the signal (a sum of four sines).") var seed: UInt64 = 0
    @Option(help: "Write the PNG here.") var out: String = "runs/hippo.png"

    func run() throws {
        guard size >= 1, size <= 512 else { throw ValidationError("--size must be in 1...512, got \(size)") }
        guard samples >= 2, samples <= 1_000_000 else { throw ValidationError("--samples must be in 2...1000000, got \(samples)") }
        let folder = URL(fileURLWithPath: out).deletingLastPathComponent().path
        do { try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true) } catch {
            throw FluxionError(.io, file: folder, "cannot create the folder for the picture: \(error.localizedDescription)")
        }
        // The signal: Σ_j a_j sin(2π f_j s + φ_j), f_j ∈ [1, 5), a_j ~ N(0, 1), φ_j ∈ [0, 2π).
        var rng = SeededGenerator(seed: seed)
        let terms = (0..<4).map { _ in (rng.nextNormal(), 1 + 4 * rng.nextUniform(), 2 * Double.pi * rng.nextUniform()) }
        let signal = { (s: Double) in terms.reduce(0.0) { $0 + $1.0 * Foundation.sin(2 * Double.pi * $1.1 * s + $1.2) } }
        let times = (0..<samples).map { (Double($0) + 0.5) / Double(samples) }          // midpoints of the held steps
        let u = times.map(signal)
        let rms = { (v: [Double]) in (v.reduce(0) { $0 + $1 * $1 } / Double(v.count)).squareRoot() }
        var record: [String: Any] = ["command": "hippo", "size": size, "samples": samples, "seed": seed, "signal_rms": rms(u), "out": out]
        var figure = Figure(title: "HiPPO online reconstruction at t = 1, N = \(size)", xLabel: "s", yLabel: "u(s)")
        figure.line(xs: times, ys: u, color: Color.palette[0], thickness: 4, label: "signal")
        for (i, measure) in [HiPPO.Measure.legS, .legT].enumerated() {
            let rebuilt = HiPPO.reconstruct(HiPPO.onlineMemory(u, measure: measure, size: size), at: times)
            let error = rms(zip(rebuilt, u).map { $0 - $1 })
            record["\(measure.rawValue)_rmse"] = error
            figure.line(xs: times, ys: rebuilt, color: Color.palette[i + 2], thickness: 2,
                        label: "\(measure == .legS ? "LegS" : "LegT (window 1)") reconstruction, RMSE \(String(format: "%.3g", error))")
        }
        do { try figure.writePNG(to: out) } catch { throw FluxionError(.io, file: out, "cannot write the picture: \(error)") }
        try printJSONLine(record)
    }
}
