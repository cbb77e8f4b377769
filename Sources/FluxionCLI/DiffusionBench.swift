import Fluxion
import Foundation

// The diffusion and CNF benchmark workloads (`fluxion bench ddpm2d`, `fluxion bench cnf2d`); the
// PyTorch equivalents are in Tools/bench_generative_torch.py, documented in BENCHMARKS.md.
extension BenchWorkloads {
    /// DDPM on two moons, batch 1024: ε-network Linear(3,256)-SiLU-Linear(256,256)-SiLU-
    /// Linear(256,256)-SiLU-Linear(256,2) on [x_n, n/T]; T = 1000, β linear 1e-4 → 0.02,
    /// n ~ U{1…T}, ε ~ N(0, I), x_n = √ᾱ_n x₀ + √(1 − ᾱ_n) ε, loss mean‖ε̂ − ε‖²; Adam lr 1e-3.
    /// The library's `diffusionLoss`. ≈ 0.81 GFLOP per step (as rectflow2d).
    static func ddpm2d(seconds: Double) -> Double {
        var rng = SeededGenerator(seed: 0)
        let net = TimeConditionedMLP(dimension: 2, hiddenSizes: [256, 256, 256], activation: .silu, using: &rng)
        let schedule = NoiseSchedule(kind: .linear, stepCount: 1000)
        return timedMoonsTraining(net, batch: 1024, seconds: seconds, rng: &rng) { net, x0, r in
            diffusionLoss(net, data: x0, schedule: schedule, using: &r)
        }
    }

    /// Times Adam (lr 1e-3) steps of `loss` on cycling two-moons batches of `batch` points; each
    /// step's loss draws from its own split of `rng`.
    static func timedMoonsTraining<M: ParameterTree>(_ model: M, batch: Int, seconds: Double, rng: inout SeededGenerator,
                                                     loss: (M, Tensor, inout SeededGenerator) -> Tensor) -> Double {
        var model = model, optimizer = Adam(learningRate: 1e-3)
        let next = cyclingBatches(Toy2D.twoMoons(count: batch * 64, using: &rng), batch: batch)
        var base = rng
        return timed(seconds) {
            let x = next()
            var r = base.split()
            let g = gradient(at: model) { m in loss(m, x, &r) }
            optimizer.update(&model, along: g)
        }
    }

    /// FFJORD on two moons, batch 256: velocity Linear(3,64)-Tanh-Linear(64,64)-Tanh-Linear(64,64)-
    /// Tanh-Linear(64,2) on [z, t]; exact trace (Σ_j e_jᵀ J e_j, d = 2); augmented state
    /// [z, ℓ] with dℓ/dt = tr ∂v/∂z integrated from t = 0 to 1 by RK4 with 4 steps (16 evaluations);
    /// loss −mean(log N(z₁; 0, I) + ℓ₁), backpropagated through the solver; Adam lr 1e-3.
    /// The library's `ContinuousNormalizingFlow`.
    static func cnf2d(seconds: Double) -> Double {
        var rng = SeededGenerator(seed: 0)
        let cnf = ContinuousNormalizingFlow(model: TimeConditionedMLP(dimension: 2, hiddenSizes: [64, 64, 64], activation: .tanh, using: &rng))
        let solver = ODESolver(method: .rk4, steps: 4)
        return timedMoonsTraining(cnf, batch: 256, seconds: seconds, rng: &rng) { cnf, x, r in
            try! cnf.negativeLogLikelihood(x, solver: solver, using: &r)
        }
    }
}
