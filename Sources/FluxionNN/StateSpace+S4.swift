import FluxionCore
import Foundation

// NOTE(1) of StateSpace+S4.swift: S4's kernel by the generating function (Gu, Goel, Ré 2022,
// "Efficiently Modeling Long Sequences with Structured State Spaces", §3.3 and Algorithm 1;
// state-spaces `SSMKernelDPLR`; SPEC §10). Per channel the state matrix is, in its eigenbasis,
// A = Λ − PP* (NPLR, NOTE(2) of HiPPO.swift), kept as the N/2 states of one half of each conjugate
// pair (the other half is the conjugate, so every sum over states is Σ_n f(v_n, w_n) + f(v̄_n, w̄_n)).
// Bilinear discretisation at step Δ gives the truncated generating function at the roots of unity
// ω_ℓ = e^{−2πiℓ/L}, where ω^L = 1 turns C̄(I − Ā^L) into the trained C̃:
//
//     Ĝ(ω) = C̃ (I − ωĀ)⁻¹ B̄ = (2/(1 + ω)) C̃ (z − ΔA)⁻¹ ΔB,   z = 2(1 − ω)/(1 + ω).
//
// Woodbury on the rank-one term with r_xy = Δ Σ_n x_n y_n / (z − Δλ_n) (a Cauchy kernel) gives
// Ĝ = (2/(1 + ω)) (r_CB − r_CP r_QB / (1 + r_QP)), Q = P̄, and K = irfft(Ĝ) (length L). At ω = −1
// (ℓ = L/2) z is infinite and 1 + ω is zero, so both are scaled out: with a = 1 − ω and
// b = (1 + ω)/2, r = b·s for s_xy = Δ Σ x y / (a − bΔλ), so
//
//     Ĝ = s_CB − b s_CP s_QB / (1 + b s_QP),
//
// finite everywhere (at ω = −1 it is s_CB = Δ Σ C B / 2 exactly). The kernel is made at the
// layer's `kernelLength` (a power of two, state-spaces' `l_kernel`) and cut to the input length,
// so C̃ keeps its meaning whatever L ≤ kernelLength the layer is called with (state-spaces doubles
// `l_kernel`, converting C̃, when a longer input comes; here a longer input is refused).
//
// The recurrent form works in real coordinates: a half state x ∈ ℂ^{N/2} is [Re x; Im x] ∈ ℝ^N, on
// which A acts as the real matrix [[Re Λ, −Im Λ], [Im Λ, Re Λ]] − 2 p pᵀ with p = [Re P; Im P]
// (since P*x_full = 2 Re(P*x) over both halves), B = [Re B; Im B], and y = 2 Re(C x) is the row
// 2[Re C, −Im C]. Ā, B̄ are the dense bilinear ones, and C = C̃ (I − Ā^L)⁻¹ (Ā^L by squaring).

/// The structured state-space layer S4 (Gu, Goel, Ré 2022; state-spaces `models/s4/s4.py`:
/// `SSMKernelDPLR` inside `FFTConv`, one SISO SSM per channel, rank 1, bilinear), batch-first:
///
///     A = Λ − PP*  (Λ_n = −exp(inv_A_real_n) + i·A_imag_n),  Δ = exp(log_dt)
///     K = irfft(Ĝ(ω_ℓ)),  Ĝ = C̃ (I − ωĀ)⁻¹ B̄ by Cauchy kernel + Woodbury (NOTE(1) of StateSpace+S4.swift)
///     y = GLU(Conv1d_{H→2H, k=1}(GELU(K ∗ u + D u)))   (causal convolution by FFT, 2L padding)
///
/// Shapes: u [B, L, H] → [B, L, H], L ≤ `kernelLength`; N/2 complex states per channel.
/// Parameters under s4.py's names and shapes (channels = 1, rank = 1, n_ssm = H; complex values as
/// (real, imaginary) pairs): `D` [1, H], `kernel.C` [1, H, N/2, 2] (C̃ = C(I − Ā^L)),
/// `kernel.log_dt` [H], `kernel.B` [H, N/2, 2], `kernel.P` [1, H, N/2, 2], `kernel.inv_A_real`
/// [H, N/2], `kernel.A_imag` [H, N/2], `output_linear.0.weight` [2H, H, 1], `output_linear.0.bias`
/// [2H]. Initialisation: the LegS NPLR form (`HiPPO.nplr`: Λ, P̃ = V*P, B̃ = V*B, unclipped) in
/// every channel, log Δ ~ U(log 1e-3, log 1e-1), C̃ ~ CN(0, 1) drawn directly (state-spaces draws C
/// and converts it to C̃ at `l_max` on its first forward), D ~ N(0, 1), the 1×1 convolution U(±1/√H).
public struct S4Layer: Layer {
    public var D: Tensor
    public var C: Tensor
    public var logDt: Tensor
    public var B: Tensor
    public var P: Tensor
    public var invAReal: Tensor
    public var AImag: Tensor
    public var outputWeight: Tensor
    public var outputBias: Tensor
    /// The length L of the generating function (a power of two): C̃ = C(I − Ā^L) refers to it, and
    /// inputs may be at most this long.
    public var kernelLength: Int

    public init(modelSize h: Int, stateSize n: Int = 64, kernelLength: Int = 1024, dtMin: Double = 1e-3, dtMax: Double = 1e-1,
                dtype: DType = .float32, using rng: inout SeededGenerator) {
        precondition(h > 0 && n >= 2 && n % 2 == 0, "S4Layer: modelSize must be positive and stateSize even, got \(h), \(n)")
        precondition(kernelLength >= 2 && kernelLength & (kernelLength - 1) == 0, "S4Layer: kernelLength must be a power of two ≥ 2, got \(kernelLength)")
        let half = n / 2
        let nplr = HiPPO.nplr(size: n)
        func repeated(_ re: [Double], _ im: [Double]) -> [Double] {
            (0..<h).flatMap { _ in (0..<half).flatMap { [re[$0], im[$0]] } }
        }
        D = Tensor.randomNormal(shape: [1, h], dtype: dtype, using: &rng)
        C = Tensor.randomNormal(shape: [1, h, half, 2], standardDeviation: 0.5.squareRoot(), dtype: dtype, using: &rng)
        logDt = Tensor.randomUniform(shape: [h], low: Foundation.log(dtMin), high: Foundation.log(dtMax), dtype: dtype, using: &rng)
        B = Tensor(repeated(nplr.bReal, nplr.bImaginary), shape: [h, half, 2], dtype: dtype)
        P = Tensor(repeated(nplr.pReal, nplr.pImaginary), shape: [1, h, half, 2], dtype: dtype)
        invAReal = Tensor((0..<(h * half)).map { Foundation.log(-nplr.lambdaReal[$0 % half]) }, shape: [h, half], dtype: dtype)
        AImag = Tensor((0..<(h * half)).map { nplr.lambdaImaginary[$0 % half] }, shape: [h, half], dtype: dtype)
        let bound = 1 / Double(h).squareRoot()
        outputWeight = Tensor.randomUniform(shape: [2 * h, h, 1], low: -bound, high: bound, dtype: dtype, using: &rng)
        outputBias = Tensor.randomUniform(shape: [2 * h], low: -bound, high: bound, dtype: dtype, using: &rng)
        self.kernelLength = kernelLength
    }

    public var modelSize: Int { logDt.shape[0] }
    /// N/2, the complex states kept per channel.
    public var halfStateSize: Int { invAReal.shape[1] }

    /// The convolution kernel K [H, L] (s4.py's `SSMKernelDPLR.forward`), made at `kernelLength`
    /// and cut to `l` (NOTE(1) of StateSpace+S4.swift). Differentiable in every SSM parameter.
    public func kernel(length l: Int) -> Tensor {
        precondition(l >= 1 && l <= kernelLength, "S4Layer.kernel: length \(l) must be in 1...\(kernelLength) (kernelLength)")
        let lk = kernelLength, dtype = logDt.dtype
        let dt = logDt.exp().unsqueezed(axis: 1)                                      // [H, 1]
        let wRe = (-invAReal.exp() * dt).unsqueezed(axis: 2), wIm = (AImag * dt).unsqueezed(axis: 2)   // Δλ [H, N/2, 1]
        let b = complexParts(B), c = complexParts(C.squeezed(axis: 0)), p = complexParts(P.squeezed(axis: 0))   // [H, N/2]
        let q = ComplexTensor(real: p.real, imaginary: -p.imaginary)                 // Q = P̄
        func weighted(_ x: ComplexTensor, _ y: ComplexTensor) -> (Tensor, Tensor) {   // x y Δ
            ((x.real * y.real - x.imaginary * y.imaginary) * dt, (x.real * y.imaginary + x.imaginary * y.real) * dt)
        }
        let pairs = [weighted(c, b), weighted(c, p), weighted(q, b), weighted(q, p)]  // CB, CP, QB, QP
        let vRe = Tensor.stack(pairs.map { $0.0 }).unsqueezed(axis: 3), vIm = Tensor.stack(pairs.map { $0.1 }).unsqueezed(axis: 3)  // [4, H, N/2, 1]
        // The nodes: a = 1 − ω, b = (1 + ω)/2 at ω_ℓ = e^{−2πiℓ/L}, ℓ = 0 … L/2.
        let theta = (0...(lk / 2)).map { 2 * Double.pi * Double($0) / Double(lk) }
        let aRe = Tensor(theta.map { 1 - Foundation.cos($0) }, dtype: dtype), aIm = Tensor(theta.map { Foundation.sin($0) }, dtype: dtype)
        let bRe = Tensor(theta.map { (1 + Foundation.cos($0)) / 2 }, dtype: dtype), bIm = Tensor(theta.map { -Foundation.sin($0) / 2 }, dtype: dtype)
        // s = Σ_n v_n / (a − b w_n) + v̄_n / (a − b w̄_n): [4, H, L/2 + 1].
        func cauchy(_ wIm: Tensor, _ vIm: Tensor) -> (Tensor, Tensor) {
            let dRe = aRe - (bRe * wRe - bIm * wIm), dIm = aIm - (bRe * wIm + bIm * wRe)   // [H, N/2, L/2 + 1]
            let norm = dRe * dRe + dIm * dIm
            return (((vRe * dRe + vIm * dIm) / norm).sum(axis: 2), ((vIm * dRe - vRe * dIm) / norm).sum(axis: 2))
        }
        let (s1, s2) = (cauchy(wIm, vIm), cauchy(-wIm, -vIm))
        let sRe = (s1.0 + s2.0).unstacked(axis: 0), sIm = (s1.1 + s2.1).unstacked(axis: 0)   // 4 × [H, L/2 + 1]
        // Ĝ = s_CB − b s_CP s_QB / (1 + b s_QP).
        let (mRe, mIm) = (sRe[1] * sRe[2] - sIm[1] * sIm[2], sRe[1] * sIm[2] + sIm[1] * sRe[2])     // s_CP s_QB
        let (nRe, nIm) = (bRe * mRe - bIm * mIm, bRe * mIm + bIm * mRe)                            // b s_CP s_QB
        let (eRe, eIm) = (bRe * sRe[3] - bIm * sIm[3] + 1, bRe * sIm[3] + bIm * sRe[3])            // 1 + b s_QP
        let e2 = eRe * eRe + eIm * eIm
        let g = ComplexTensor(real: sRe[0] - (nRe * eRe + nIm * eIm) / e2, imaginary: sIm[0] - (nIm * eRe - nRe * eIm) / e2)
        let k = Tensor.irfft(g, count: lk)                                             // [H, L]
        return l == lk ? k : k.sliced(axis: 1, 0..<l)
    }

    /// The recurrent state of `step`: x [B, H, N/2] complex (zeros at the start) and the dense
    /// discrete system it steps with, computed once from the parameters (as state-spaces'
    /// `setup_step`): a state belongs to the parameters it was made from.
    public struct State {
        /// [B, H, N/2]: the half state of each channel.
        public var x: ComplexTensor
        /// Ā [H, N, N], B̄ [H, N] and the output row [H, N], in the real coordinates [Re x; Im x].
        let transition: Tensor, input: Tensor, output: Tensor
    }

    /// A zero state for `batch` sequences, with the discrete system of the current parameters
    /// (NOTE(1) of StateSpace+S4.swift, the real coordinates): Ā = (I − ΔA/2)⁻¹(I + ΔA/2),
    /// B̄ = Δ(I − ΔA/2)⁻¹B, C = C̃(I − Ā^L)⁻¹ at L = `kernelLength`. Cost O(H N³ log L), Float64
    /// throughout, outside differentiation.
    public func initialState(batch: Int) -> State {
        precondition(batch >= 1, "S4Layer.initialState: batch must be at least 1, got \(batch)")
        let h = modelSize, half = halfStateSize, n = 2 * half, dtype = logDt.dtype
        let (logSteps, realParts, imaginaryParts) = (logDt.scalars, invAReal.scalars, AImag.scalars)
        let (b, c, p) = (B.scalars, C.scalars, P.scalars)                             // (re, im) pairs
        var (transition, input, output) = ([Double](), [Double](), [Double]())
        for ch in 0..<h {
            var a = [Double](repeating: 0, count: n * n)
            let zero = [Double](repeating: 0, count: n)
            var (pr, br, cr) = (zero, zero, zero)
            for k in 0..<half {
                let j = ch * half + k
                let (lr, li) = (-Foundation.exp(realParts[j]), imaginaryParts[j])
                a[k * n + k] = lr; a[(half + k) * n + half + k] = lr
                a[k * n + half + k] = -li; a[(half + k) * n + k] = li
                (pr[k], pr[half + k]) = (p[2 * j], p[2 * j + 1])
                (br[k], br[half + k]) = (b[2 * j], b[2 * j + 1])
                (cr[k], cr[half + k]) = (2 * c[2 * j], -2 * c[2 * j + 1])
            }
            for i in 0..<n { for k in 0..<n { a[i * n + k] -= 2 * pr[i] * pr[k] } }
            let discrete = HiPPO.discretize(A: Tensor(a, shape: [n, n], dtype: .float64), B: Tensor(br, dtype: .float64),
                                            step: Foundation.exp(logSteps[ch]), method: .bilinear)
            let abar = discrete.A.scalars
            var power = abar                                                          // Ā^L by squaring
            var length = 1
            while length < kernelLength { power = DenseMatrix.multiply(power, power, n: n); length *= 2 }
            // C (I − Ā^L) = C̃  ⇔  (I − Ā^L)ᵀ Cᵀ = C̃ᵀ.
            var m = [Double](repeating: 0, count: n * n)
            for i in 0..<n { for k in 0..<n { m[k * n + i] = (i == k ? 1 : 0) - power[i * n + k] } }
            transition += abar
            input += discrete.B.scalars
            output += DenseMatrix.solve(m, cr, n: n, columns: 1)
        }
        let zeros = Tensor.zeros(shape: [batch, h, half], dtype: dtype)
        return State(x: ComplexTensor(real: zeros, imaginary: zeros),
                     transition: Tensor(transition, shape: [h, n, n], dtype: .float64).cast(to: dtype),
                     input: Tensor(input, shape: [h, n], dtype: .float64).cast(to: dtype),
                     output: Tensor(output, shape: [h, n], dtype: .float64).cast(to: dtype))
    }

    /// One step of the layer as a recurrence (equal to the convolution, step by step):
    /// x ← Ā x + B̄ u_t, y_t = C x (= 2 Re Σ_n C_n x_n), then the same skip, GELU and GLU.
    /// Shapes: u [B, H] → ([B, H], the next state).
    public func step(_ u: Tensor, state: State) -> (output: Tensor, state: State) {
        let h = modelSize, half = halfStateSize
        precondition(u.rank == 2 && u.shape[1] == h && state.x.shape == [u.shape[0], h, half],
                     "S4Layer.step: input \(u.shape) must be [B, \(h)] with a state [B, \(h), \(half)], got \(state.x.shape)")
        let x = Tensor.concatenate([state.x.real, state.x.imaginary], axis: 2)       // [B, H, N]
        let next = Tensor.matmul(state.transition, x.unsqueezed(axis: 3)).squeezed(axis: 3) + state.input * u.unsqueezed(axis: 2)
        let y = (state.output * next).sum(axis: 2)                                    // [B, H]
        var advanced = state
        advanced.x = ComplexTensor(real: next.sliced(axis: 2, 0..<half), imaginary: next.sliced(axis: 2, half..<(2 * half)))
        return (gluHead(y + u * D, weight: outputWeight, bias: outputBias), advanced)
    }

    /// y = GLU(W·GELU(K ∗ u + D u) + b): u [B, L, H] → [B, L, H], L ≤ `kernelLength`.
    public func callAsFunction(_ u: Tensor) -> Tensor {
        precondition(u.rank == 3 && u.shape[2] == modelSize && u.shape[1] <= kernelLength,
                     "S4Layer: input \(u.shape) must be [B, L, \(modelSize)] with L ≤ kernelLength \(kernelLength)")
        return gluHead(Tensor.causalConvolution(u, kernel: kernel(length: u.shape[1])) + u * D, weight: outputWeight, bias: outputBias)
    }

    public mutating func visitParameters(prefix: String, _ body: (String, inout Tensor) -> Void) {
        body(Self.join(prefix, "D"), &D)
        body(Self.join(prefix, "kernel.C"), &C)
        body(Self.join(prefix, "kernel.log_dt"), &logDt)
        body(Self.join(prefix, "kernel.B"), &B)
        body(Self.join(prefix, "kernel.P"), &P)
        body(Self.join(prefix, "kernel.inv_A_real"), &invAReal)
        body(Self.join(prefix, "kernel.A_imag"), &AImag)
        body(Self.join(prefix, "output_linear.0.weight"), &outputWeight)
        body(Self.join(prefix, "output_linear.0.bias"), &outputBias)
    }
}

/// (real, imaginary) of x [..., 2].
private func complexParts(_ x: Tensor) -> ComplexTensor {
    let last = x.rank - 1
    return ComplexTensor(real: x.sliced(axis: last, 0..<1).squeezed(axis: last), imaginary: x.sliced(axis: last, 1..<2).squeezed(axis: last))
}
