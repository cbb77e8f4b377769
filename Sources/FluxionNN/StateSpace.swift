import FluxionCore
import Foundation

/// The diagonal state-space layer S4D (Gu, Gupta, Goel, Ré 2022, "On the Parameterization and
/// Initialization of Diagonal State Space Models"; state-spaces `models/s4/s4d.py`, `S4D` with
/// `transposed=False`), batch-first:
///
///     A_n = −exp(log_A_real_n) + i·A_imag_n,  Δ = exp(log_dt),  C̃_n = C_n (e^{ΔA_n} − 1) / A_n
///     K_ℓ = 2 Re Σ_n C̃_n e^{ΔA_n ℓ}  (one kernel per channel, ℓ = 0 … L − 1)
///     y = GLU(Conv1d_{H→2H, k=1}(GELU(K ∗ u + D u)))   (causal convolution by FFT, 2L padding)
///
/// Shapes: u [B, L, H] → [B, L, H]; N/2 complex states per channel. Parameters under s4d.py's
/// names: `D` [H], `kernel.C` [H, N/2, 2] (real, imaginary), `kernel.log_dt` [H],
/// `kernel.log_A_real` [H, N/2], `kernel.A_imag` [H, N/2], `output_linear.0.weight` [2H, H, 1],
/// `output_linear.0.bias` [2H]. Initialisation as s4d.py (S4D-Lin): log Δ ~ U(log 1e-3, log 1e-1),
/// C ~ CN(0, 1) (real and imaginary parts N(0, ½)), A = −½ + iπn, D ~ N(0, 1), the 1×1 convolution
/// PyTorch's U(±1/√H). (s4d.py gives the SSM parameters learning rate 1e-3 and no weight decay.)
public struct S4DLayer: Layer {
    public var D: Tensor
    public var C: Tensor
    public var logDt: Tensor
    public var logAReal: Tensor
    public var AImag: Tensor
    public var outputWeight: Tensor
    public var outputBias: Tensor

    public init(modelSize h: Int, stateSize n: Int = 64, dtMin: Double = 1e-3, dtMax: Double = 1e-1,
                dtype: DType = .float32, using rng: inout SeededGenerator) {
        precondition(h > 0 && n >= 2 && n % 2 == 0, "S4DLayer: modelSize must be positive and stateSize even, got \(h), \(n)")
        let half = n / 2
        D = Tensor.randomNormal(shape: [h], dtype: dtype, using: &rng)
        C = Tensor.randomNormal(shape: [h, half, 2], standardDeviation: 0.5.squareRoot(), dtype: dtype, using: &rng)
        logDt = Tensor.randomUniform(shape: [h], low: Foundation.log(dtMin), high: Foundation.log(dtMax), dtype: dtype, using: &rng)
        logAReal = Tensor.full(Foundation.log(0.5), shape: [h, half], dtype: dtype)
        AImag = Tensor((0..<(h * half)).map { Double.pi * Double($0 % half) }, shape: [h, half], dtype: dtype)
        let bound = 1 / Double(h).squareRoot()
        outputWeight = Tensor.randomUniform(shape: [2 * h, h, 1], low: -bound, high: bound, dtype: dtype, using: &rng)
        outputBias = Tensor.randomUniform(shape: [2 * h], low: -bound, high: bound, dtype: dtype, using: &rng)
    }

    public var modelSize: Int { D.shape[0] }

    /// The discrete system per channel and state: ΔA (real, imaginary) and C̃ = C (e^{ΔA} − 1) / A
    /// (real, imaginary), each [H, N/2].
    func discreteSystem() -> (dRe: Tensor, dIm: Tensor, cRe: Tensor, cIm: Tensor) {
        let dt = logDt.exp().unsqueezed(axis: 1)                                     // [H, 1]
        let (aRe, aIm) = (-logAReal.exp(), AImag)                                    // [H, N/2]
        let (dRe, dIm) = (aRe * dt, aIm * dt)                                        // ΔA
        let decay = dRe.exp()
        let (eRe, eIm) = (decay * dIm.cos() - 1, decay * dIm.sin())                 // e^{ΔA} − 1
        let (cRe, cIm) = (C.sliced(axis: 2, 0..<1).squeezed(axis: 2), C.sliced(axis: 2, 1..<2).squeezed(axis: 2))
        let (pRe, pIm) = (cRe * eRe - cIm * eIm, cRe * eIm + cIm * eRe)
        let norm = aRe * aRe + aIm * aIm
        return (dRe, dIm, (pRe * aRe + pIm * aIm) / norm, (pIm * aRe - pRe * aIm) / norm)
    }

    /// The convolution kernel K [H, L] (s4d.py's `S4DKernel.forward(L)`): K_ℓ = 2 Re Σ_n C̃_n e^{ΔA_n ℓ}.
    public func kernel(length l: Int) -> Tensor {
        let s = discreteSystem()
        let steps = Tensor.arange(0, Double(l), dtype: D.dtype)                       // [L]
        let phase = s.dIm.unsqueezed(axis: 2) * steps, magnitude = (s.dRe.unsqueezed(axis: 2) * steps).exp()  // [H, N/2, L]
        let terms = s.cRe.unsqueezed(axis: 2) * phase.cos() - s.cIm.unsqueezed(axis: 2) * phase.sin()
        return (magnitude * terms).sum(axis: 1) * 2
    }

    /// The recurrent state of `step`: x [B, H, N/2] complex, zeros at the start.
    public func initialState(batch: Int) -> ComplexTensor {
        let zeros = Tensor.zeros(shape: [batch, modelSize, C.shape[1]], dtype: D.dtype)
        return ComplexTensor(real: zeros, imaginary: zeros)
    }

    /// One step of the layer as a recurrence (equal to the convolution, step by step):
    /// x ← e^{ΔA} x + u_t, y_t = 2 Re Σ_n C̃_n x_n, then the same skip, GELU and GLU.
    /// Shapes: u [B, H] → ([B, H], the next state).
    public func step(_ u: Tensor, state: ComplexTensor) -> (output: Tensor, state: ComplexTensor) {
        precondition(u.rank == 2 && u.shape[1] == modelSize && state.shape == [u.shape[0], modelSize, C.shape[1]],
                     "S4DLayer.step: input \(u.shape) must be [B, \(modelSize)] with a state [B, \(modelSize), \(C.shape[1])], got \(state.shape)")
        let s = discreteSystem()
        let decay = s.dRe.exp()
        let (aRe, aIm) = (decay * s.dIm.cos(), decay * s.dIm.sin())                 // e^{ΔA}
        let (xRe, xIm) = (state.real, state.imaginary)
        let next = ComplexTensor(real: aRe * xRe - aIm * xIm + u.unsqueezed(axis: 2), imaginary: aRe * xIm + aIm * xRe)
        let conv = ((s.cRe * next.real - s.cIm * next.imaginary).sum(axis: 2)) * 2      // [B, H]
        return (outputHead(conv + u * D), next)
    }

    /// GLU(W·GELU(y) + b) over the last axis.
    func outputHead(_ y: Tensor) -> Tensor { gluHead(y, weight: outputWeight, bias: outputBias) }

    /// y = GLU(W·GELU(K ∗ u + D u) + b): u [B, L, H] → [B, L, H].
    public func callAsFunction(_ u: Tensor) -> Tensor {
        precondition(u.rank == 3 && u.shape[2] == modelSize, "S4DLayer: input \(u.shape) must be [B, L, \(modelSize)]")
        return outputHead(Tensor.causalConvolution(u, kernel: kernel(length: u.shape[1])) + u * D)
    }

    public mutating func visitParameters(prefix: String, _ body: (String, inout Tensor) -> Void) {
        body(Self.join(prefix, "D"), &D)
        body(Self.join(prefix, "kernel.C"), &C)
        body(Self.join(prefix, "kernel.log_dt"), &logDt)
        body(Self.join(prefix, "kernel.log_A_real"), &logAReal)
        body(Self.join(prefix, "kernel.A_imag"), &AImag)
        body(Self.join(prefix, "output_linear.0.weight"), &outputWeight)
        body(Self.join(prefix, "output_linear.0.bias"), &outputBias)
    }
}

/// GLU(W·GELU(y) + b) over the last axis (the 1×1 convolution H → 2H and GLU of s4d.py and
/// s4.py's `output_linear`): y [..., H], weight [2H, H, 1], bias [2H] → [..., H].
func gluHead(_ y: Tensor, weight: Tensor, bias: Tensor) -> Tensor {
    let z = Tensor.linear(y.gelu(), weight: weight.squeezed(axis: 2), bias: bias)                 // [..., 2H]
    let h = weight.shape[1], last = z.rank - 1
    return z.sliced(axis: last, 0..<h) * z.sliced(axis: last, h..<(2 * h)).sigmoid()
}
