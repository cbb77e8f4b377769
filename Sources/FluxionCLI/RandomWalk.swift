import ArgumentParser
import Fluxion
import Foundation

/// `fluxion randomwalk`: the drunkard's walk by generating functions (SPEC §8).
struct RandomWalkCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "randomwalk",
        abstract: "Exact vs simulated random-walk distributions, return probabilities, diffusion limit.")

    @Option(help: "Number of steps n.") var steps: Int = 20
    @Option(help: "Probability p of a +1 step (q = 1 − p).") var p: Double = 0.5
    @Option(help: "Number of simulated walkers.") var walkers: Int = 100_000
    @Option(help: "Random seed.") var seed: UInt64 = 0
    @Option(help: "Rows of the u₂ₙ/f₂ₙ table.") var returns: Int = 10
    @Option(help: "Write a PNG histogram of the scaled walks against N(0, 2Dt) here.") var out: String?

    func run() throws {
        guard steps >= 1, steps <= 10_000 else { throw ValidationError("--steps must be in 1...10000, got \(steps)") }
        guard p >= 0, p <= 1 else { throw ValidationError("--p must be a probability in [0, 1], got \(p)") }
        guard walkers >= 1, walkers <= 10_000_000 else { throw ValidationError("--walkers must be in 1...10000000, got \(walkers)") }
        guard returns >= 1 else { throw ValidationError("--returns must be at least 1") }
        if let out, !FileManager.default.fileExists(atPath: URL(fileURLWithPath: out).deletingLastPathComponent().path) {
            throw ValidationError("--out: the folder of \(out) does not exist")
        }
        let walk = RandomWalk(upProbability: p)
        var rng = SeededGenerator(seed: seed)
        let exact = walk.exactDistribution(steps: steps)
        let simulated = walk.simulatedDistribution(steps: steps, walkers: walkers, using: &rng)
        print("Random walk, p = \(fmt(p)), q = \(fmt(1 - p)), n = \(steps): P(X_n = k) = [x^k] (px + q/x)^n")
        print("E X_n = n(p − q) = \(fmt(walk.mean(steps: steps))), Var X_n = 4npq = \(fmt(walk.variance(steps: steps)))")
        print(pad("k", 6, right: true) + "  " + pad("exact", 14) + pad("simulated", 14) + "(sim − exact)/SE")
        var worst = 0.0
        for k in -steps...steps where exact[k + steps] > 1e-4 {
            let e = exact[k + steps], s = simulated[k + steps]
            let z = (s - e) / (e * (1 - e) / Double(walkers)).squareRoot()
            worst = max(worst, Swift.abs(z))
            print(pad(String(k), 6, right: true) + "  " + pad(fmt(e), 14) + pad(fmt(s), 14) + String(format: "%+.2f", z))
        }
        print("largest |z| over the rows shown: \(String(format: "%.2f", worst))")
        let u = walk.returnProbabilities(count: returns + 1)
        let f = walk.firstReturnProbabilities(count: returns + 1)
        let cumulative = walk.cumulativeReturnProbabilities(count: returns + 1)
        print("")
        print(pad("2n", 6, right: true) + "  " + pad("u_2n", 14) + pad("f_2n", 14) + "Σ f_2k (k ≤ n)")
        for m in 1...returns {
            print(pad(String(2 * m), 6, right: true) + "  " + pad(fmt(u[m]), 14) + pad(fmt(f[m]), 14) + fmt(cumulative[m]))
        }
        print("total return probability F(1) = 1 − |p − q| = \(fmt(walk.totalReturnProbability))"
              + (p == 0.5 ? " (recurrent; u_2n ≈ 1/√(πn))" : " (transient)"))

        guard p > 0 && p < 1 else {
            if out != nil { throw ValidationError("--out: with p = \(fmt(p)) every walk is deterministic; there is no diffusion limit to plot") }
            return
        }
        let diffusion = walk.diffusionLimit(steps: steps, walkers: walkers, time: 1, diffusionCoefficient: 0.5,
                                            binCount: 40, using: &rng)
        print("")
        print("diffusion limit (Δx²/Δt = 2D, D = 0.5, t = 1, D' = 4pq·D): sample variance \(fmt(diffusion.sampleVariance)) vs 2Dt·4pq = \(fmt(diffusion.limitVariance)); largest bin-probability error \(fmt(diffusion.maximumProbabilityError))")
        if let out {
            var figure = Figure(title: "Random walk, n = \(steps), p = \(fmt(p)): scaled endpoints vs N(0, 2D't)",
                                xLabel: "x = Δx·(S_n − n(p − q)),  Δx = √(2DΔt)", yLabel: "density")
            figure.bars(edges: diffusion.edges, heights: diffusion.density, label: "\(walkers) walks")
            let lo = diffusion.edges.first!, hi = diffusion.edges.last!
            figure.function({ diffusion.limitDensity(at: $0) }, over: lo...hi, color: Color.palette[3], thickness: 3,
                            label: p == 0.5 ? "N(0, 2Dt), D = 0.5, t = 1" : "N(0, 2Dt·4pq), D = 0.5, t = 1")
            do { try figure.writePNG(to: out) } catch { throw ValidationError("\(error)") }
            print("wrote \(out)")
        }
    }
}
