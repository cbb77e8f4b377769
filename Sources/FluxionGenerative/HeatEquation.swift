import Foundation

/// The variance-exploding "heat-equation" ODE of SPEC §3 (Su, kexue.fm/archives/9280):
///
///     dx/dt = −σ̇_t σ_t ∇ log p_t(x),   p_t = p₀ ∗ N(0, σ_t² I),   σ_t = σ_max · t
///
/// p_t solves the heat equation ∂_t p = D_t ∇²p with D_t = σ̇_t σ_t (σ_t² = 2∫₀ᵗ D_s ds, σ₀ = 0).
/// Integrated backward from x₁ ~ N(0, σ_max² I) (≈ p₁ when σ_max ≫ the data's scale) it carries
/// samples to p₀. Data at t = 0, noise at t = 1, as the rest of the module. The score is an argument:
/// exact for a Gaussian mixture, or a network trained with the conditional target −(x_t − x₀)/σ_t².
public struct HeatEquationFlow: Sendable {
    /// σ_max, the noise level at t = 1.
    public var maximumSigma: Double

    /// The flow with σ_t = `maximumSigma`·t (σ_max > 0).
    public init(maximumSigma: Double) {
        precondition(maximumSigma > 0, "HeatEquationFlow: maximumSigma must be positive, got \(maximumSigma)")
        self.maximumSigma = maximumSigma
    }

    /// σ_t = σ_max·t.
    public func sigma(at t: Double) -> Double { maximumSigma * t }
    /// D_t = σ̇_t σ_t = σ_max²·t.
    public func diffusionCoefficient(at t: Double) -> Double { maximumSigma * maximumSigma * t }

    /// The velocity −D_t · score(x, σ_t) for a score function of (x, σ).
    public func velocity(_ x: Tensor, at t: Double, score: (Tensor, Double) -> Tensor) -> Tensor {
        score(x, sigma(at: t)) * (-diffusionCoefficient(at: t))
    }

    /// Integrates the ODE from t = 1 (`noise` already scaled: x₁ ~ N(0, σ_max² I)) back to t = 0.
    public func sample(noise: Tensor, solver: ODESolver, score: (Tensor, Double) -> Tensor) throws -> ODESolution {
        try withoutDerivatives {
            try solver.solve({ t, xs in [velocity(xs[0], at: t, score: score)] }, initial: [noise], from: 1, to: 0)
        }
    }

    /// The exact score of a Gaussian mixture p₀ convolved with N(0, σ² I).
    public static func exactScore(of mixture: GaussianMixture) -> (Tensor, Double) -> Tensor {
        { x, sigma in mixture.score(x, addedVariance: sigma * sigma) }
    }
}
