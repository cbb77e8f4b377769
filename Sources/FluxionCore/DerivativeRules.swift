// NOTE(1): the derivative rules table. Every primitive's reverse rule (VJP: output cotangent g →
// input cotangents) and forward rule (JVP: input tangents t → output tangent) sit here, written in
// Tensor operations so that derivatives of derivatives work (see Autodiff.swift). `y` is the
// primitive's output (differentiable), `t[i]` the tangent of input i (nil = zero). Rules of
// broadcasting binary operations sum the cotangent back to each input's shape.
//
// Fused primitives (NOTE(6) in Fused.swift) are not in this table: each runs either its kernel
// (first-order reverse mode only) or its reference, a composite of the primitives below whose
// rules then apply. Their first-order kernel pullbacks, file and equation:
//
//   Tensor.mlp                   Tensor+MLP.swift                MLPKernel.backward: per-layer GEMMs, dW = Σ_rows δᵀh
//   Tensor.lstmSequence          Recurrence+LSTMSequence.swift   lstmSequenceBackward: BPTT, [∂W_ih | ∂W_hh] = Σ_t dz_tᵀ·XH_t
//   Tensor.lstmRecurrence        Recurrence+LSTM.swift           lstmRecurrenceBackward: BPTT through the cell
//   Tensor.attention             Attention.swift                 attentionBackward: dP = g·Vᵀ, dS = P∘(dP − rowsum(g∘O))
//   Tensor.packedAttention       Attention+Packed.swift          packedAttentionBackward (the same on strided heads)
//   Tensor.layerNorm             Tensor+LayerNorm.swift          layerNormBackward: r·(ĝ − mean ĝ − x̂·mean(ĝ·x̂))
//   Tensor.softmaxCrossEntropy   Tensor+CrossEntropy.swift       softmaxCrossEntropyBackward: g·(softmax − one-hot)
//   Tensor.silu (Float32)        Tensor+SiLU.swift               g·σ(1 + x(1 − σ)) from the saved σ
//
// Their references: mlp → linear and the activation; lstmSequence → linear + lstmRecurrence;
// lstmRecurrence → lstmRecurrenceReference; attention → attentionReference; packedAttention →
// packedAttentionReference; layerNorm → layerNormReference; softmaxCrossEntropy → −logSoftmax
// gathered at the labels; silu → the `silu` rule below.

enum Rules {
    /// A result that carries no derivative (sign, comparisons, masks).
    static func constant(_ y: Tensor) -> Tensor { y }

    // MARK: Binary arithmetic
    static func add(_ a: Tensor, _ b: Tensor, _ y: Tensor) -> Tensor {
        record(y, [a, b], vjp: { g, _ in [g.summed(toShape: a.shape), g.summed(toShape: b.shape)] },
               jvp: { y, t in sumOfTangents(t, like: y) })
    }
    static func subtract(_ a: Tensor, _ b: Tensor, _ y: Tensor) -> Tensor {
        record(y, [a, b], vjp: { g, _ in [g.summed(toShape: a.shape), (-g).summed(toShape: b.shape)] },
               jvp: { y, t in sumOfTangents([t[0], t[1].map { -$0 }], like: y) })
    }
    static func multiply(_ a: Tensor, _ b: Tensor, _ y: Tensor) -> Tensor {
        record(y, [a, b], vjp: { g, _ in [(g * b).summed(toShape: a.shape), (g * a).summed(toShape: b.shape)] },
               jvp: { y, t in sumOfTangents([t[0].map { $0 * b }, t[1].map { a * $0 }], like: y) })
    }
    static func divide(_ a: Tensor, _ b: Tensor, _ y: Tensor) -> Tensor {
        record(y, [a, b], vjp: { g, y in [(g / b).summed(toShape: a.shape), (-g * y / b).summed(toShape: b.shape)] },
               jvp: { y, t in sumOfTangents([t[0].map { $0 / b }, t[1].map { -$0 * y / b }], like: y) })
    }
    static func pow(_ a: Tensor, _ b: Tensor, _ y: Tensor) -> Tensor {
        record(y, [a, b], vjp: { g, y in [(g * b * Tensor.pow(a, b - 1)).summed(toShape: a.shape),
                                           (g * y * a.log()).summed(toShape: b.shape)] },
               jvp: { y, t in sumOfTangents([t[0].map { $0 * b * Tensor.pow(a, b - 1) }, t[1].map { $0 * y * a.log() }], like: y) })
    }
    static func minimum(_ a: Tensor, _ b: Tensor, _ y: Tensor) -> Tensor {
        let mask = { a.detached .<= b.detached }  // ties go to a
        return record(y, [a, b], vjp: { g, _ in let m = mask(); return [(g * m).summed(toShape: a.shape), (g * (1 - m)).summed(toShape: b.shape)] },
                      jvp: { y, t in let m = mask(); return sumOfTangents([t[0].map { $0 * m }, t[1].map { $0 * (1 - m) }], like: y) })
    }
    static func maximum(_ a: Tensor, _ b: Tensor, _ y: Tensor) -> Tensor {
        let mask = { a.detached .>= b.detached }
        return record(y, [a, b], vjp: { g, _ in let m = mask(); return [(g * m).summed(toShape: a.shape), (g * (1 - m)).summed(toShape: b.shape)] },
                      jvp: { y, t in let m = mask(); return sumOfTangents([t[0].map { $0 * m }, t[1].map { $0 * (1 - m) }], like: y) })
    }
    static func select(_ mask: Tensor, _ a: Tensor, _ b: Tensor, _ y: Tensor) -> Tensor {
        record(y, [a, b], vjp: { g, _ in [(g * mask).summed(toShape: a.shape), (g * (1 - mask)).summed(toShape: b.shape)] },
               jvp: { y, t in sumOfTangents([t[0].map { $0 * mask }, t[1].map { $0 * (1 - mask) }], like: y) })
    }

    // MARK: Unary
    /// A unary rule with derivative `d(x, y)`: VJP g·d, JVP t·d.
    static func unary(_ x: Tensor, _ y: Tensor, _ d: @escaping (Tensor, Tensor) -> Tensor) -> Tensor {
        record(y, [x], vjp: { g, y in [g * d(x, y)] }, jvp: { y, t in t[0]! * d(x, y) })
    }
    static func negate(_ x: Tensor, _ y: Tensor) -> Tensor {
        record(y, [x], vjp: { g, _ in [-g] }, jvp: { _, t in -t[0]! })
    }
    static func exp(_ x: Tensor, _ y: Tensor) -> Tensor { unary(x, y) { _, y in y } }
    static func log(_ x: Tensor, _ y: Tensor) -> Tensor { unary(x, y) { x, _ in 1 / x } }
    static func log1p(_ x: Tensor, _ y: Tensor) -> Tensor { unary(x, y) { x, _ in 1 / (x + 1) } }
    static func expm1(_ x: Tensor, _ y: Tensor) -> Tensor { unary(x, y) { _, y in y + 1 } }
    static func sqrt(_ x: Tensor, _ y: Tensor) -> Tensor { unary(x, y) { _, y in 0.5 / y } }
    static func rsqrt(_ x: Tensor, _ y: Tensor) -> Tensor { unary(x, y) { x, y in -0.5 * y / x } }
    static func abs(_ x: Tensor, _ y: Tensor) -> Tensor { unary(x, y) { x, _ in x.sign() } }
    static func sin(_ x: Tensor, _ y: Tensor) -> Tensor { unary(x, y) { x, _ in x.cos() } }
    static func cos(_ x: Tensor, _ y: Tensor) -> Tensor { unary(x, y) { x, _ in -x.sin() } }
    static func tanh(_ x: Tensor, _ y: Tensor) -> Tensor { unary(x, y) { _, y in 1 - y * y } }
    static func sigmoid(_ x: Tensor, _ y: Tensor) -> Tensor { unary(x, y) { _, y in y * (1 - y) } }
    /// silu'(x) = σ(x)(1 + x(1 − σ(x)))
    static func silu(_ x: Tensor, _ y: Tensor) -> Tensor { unary(x, y) { x, _ in x.siluDerivative() } }
    /// silu''(x) = σ(1 − σ)(2 + x(1 − 2σ))
    static func siluDerivative(_ x: Tensor, _ y: Tensor) -> Tensor {
        unary(x, y) { x, _ in let s = x.sigmoid(); return s * (1 - s) * (2 + x * (1 - 2 * s)) }
    }
    /// gelu'(x) = Φ(x) + x·φ(x)
    static func gelu(_ x: Tensor, _ y: Tensor) -> Tensor { unary(x, y) { x, _ in x.geluDerivative() } }
    /// gelu''(x) = φ(x)(2 − x²)
    static func geluDerivative(_ x: Tensor, _ y: Tensor) -> Tensor {
        unary(x, y) { x, _ in (x * x * -0.5).exp() * (1 / (2 * Double.pi).squareRoot()) * (2 - x * x) }
    }
    static func softplus(_ x: Tensor, _ y: Tensor) -> Tensor { unary(x, y) { x, _ in x.sigmoid() } }
    static func relu(_ x: Tensor, _ y: Tensor) -> Tensor { unary(x, y) { x, _ in x .> 0 } }
    static func leakyRelu(_ x: Tensor, _ slope: Double, _ y: Tensor) -> Tensor {
        unary(x, y) { x, _ in let m = x .> 0; return m + (1 - m) * slope }
    }
    static func erf(_ x: Tensor, _ y: Tensor) -> Tensor {
        unary(x, y) { x, _ in (-(x * x)).exp() * (2 / Double.pi.squareRoot()) }
    }
    static func powScalar(_ x: Tensor, _ p: Double, _ y: Tensor) -> Tensor { unary(x, y) { x, _ in x.pow(p - 1) * p } }
    static func cast(_ x: Tensor, _ y: Tensor) -> Tensor {
        record(y, [x], vjp: { g, _ in [g.cast(to: x.dtype)] }, jvp: { y, t in t[0]!.cast(to: y.dtype) })
    }

    // MARK: Reductions
    static func sum(_ x: Tensor, _ axes: [Int], _ keepDims: Bool, _ y: Tensor) -> Tensor {
        let kept = x.reducedShape(axes, keepDims: true)
        return record(y, [x], vjp: { g, _ in [g.reshaped(to: kept).expanded(to: x.shape)] },
                      jvp: { _, t in t[0]!.sum(axes: axes, keepDims: keepDims) })
    }
    /// max/min: the cotangent goes to the positions equal to the extremum, shared among ties.
    static func extremum(_ x: Tensor, _ kept: Tensor, _ axes: [Int], _ keepDims: Bool, _ y: Tensor) -> Tensor {
        let share = { () -> Tensor in
            let hits = x.detached .== kept
            return hits / hits.sum(axes: axes, keepDims: true)
        }
        return record(y, [x], vjp: { g, _ in [g.reshaped(to: kept.shape) * share()] },
                      jvp: { _, t in (t[0]! * share()).sum(axes: axes, keepDims: keepDims) })
    }
    static func cumulativeSum(_ x: Tensor, _ axis: Int, _ y: Tensor) -> Tensor {
        record(y, [x], vjp: { g, _ in [g.cumulativeSum(axis: axis, reverse: true)] },
               jvp: { _, t in t[0]!.cumulativeSum(axis: axis) })
    }

    // MARK: Shape
    static func reshape(_ x: Tensor, _ y: Tensor) -> Tensor {
        record(y, [x], vjp: { g, _ in [g.reshaped(to: x.shape)] }, jvp: { y, t in t[0]!.reshaped(to: y.shape) })
    }
    static func permute(_ x: Tensor, _ p: [Int], _ y: Tensor) -> Tensor {
        var inverse = p
        for (i, a) in p.enumerated() { inverse[a] = i }
        return record(y, [x], vjp: { g, _ in [g.permuted(inverse)] }, jvp: { _, t in t[0]!.permuted(p) })
    }
    static func expand(_ x: Tensor, _ y: Tensor) -> Tensor {
        record(y, [x], vjp: { g, _ in [g.summed(toShape: x.shape)] }, jvp: { y, t in t[0]!.expanded(to: y.shape) })
    }
    static func slice(_ x: Tensor, _ lower: [Int], _ upper: [Int], _ y: Tensor) -> Tensor {
        let after = zip(x.shape, upper).map { $0 - $1 }
        return record(y, [x], vjp: { g, _ in [g.padded(before: lower, after: after)] },
                      jvp: { _, t in t[0]!.sliced(lower: lower, upper: upper) })
    }
    static func pad(_ x: Tensor, _ before: [Int], _ after: [Int], _ y: Tensor) -> Tensor {
        let upper = zip(before, x.shape).map { $0 + $1 }
        return record(y, [x], vjp: { g, _ in [g.sliced(lower: before, upper: upper)] },
                      jvp: { _, t in t[0]!.padded(before: before, after: after) })
    }
    static func flip(_ x: Tensor, _ axes: [Int], _ y: Tensor) -> Tensor {
        record(y, [x], vjp: { g, _ in [g.flipped(axes: axes)] }, jvp: { _, t in t[0]!.flipped(axes: axes) })
    }
    static func concatenate(_ xs: [Tensor], _ axis: Int, _ y: Tensor) -> Tensor {
        let sizes = xs.map { $0.shape[axis] }
        return record(y, xs, vjp: { g, _ in g.split(sizes: sizes, axis: axis).map { Optional($0) } },
                      jvp: { _, t in Tensor.concatenate(zip(xs, t).map { x, t in t ?? Tensor.zeros(like: x) }, axis: axis) })
    }

    static func unstack(_ x: Tensor, _ axis: Int, _ ys: [Tensor]) -> [Tensor] {
        recordMultiple(ys, [x], vjp: { gs, ys in
            [Tensor.stack(zip(gs, ys).map { g, y in g ?? Tensor.zeros(like: y) }, axis: axis)]
        }, jvp: { _, t in t[0]!.unstacked(axis: axis) })
    }

    // MARK: Indexing
    static func gather(_ x: Tensor, _ axis: Int, _ indices: Tensor, _ y: Tensor) -> Tensor {
        record(y, [x], vjp: { g, _ in [Tensor.zeros(like: x).scatterAdding(axis: axis, indices: indices, source: g)] },
               jvp: { _, t in t[0]!.gather(axis: axis, indices: indices) })
    }
    static func scatterAdd(_ x: Tensor, _ axis: Int, _ indices: Tensor, _ source: Tensor, _ y: Tensor) -> Tensor {
        record(y, [x, source], vjp: { g, _ in [g, g.gather(axis: axis, indices: indices)] },
               jvp: { _, t in (t[0] ?? Tensor.zeros(like: x)).scatterAdding(axis: axis, indices: indices, source: t[1] ?? Tensor.zeros(like: source)) })
    }
    static func indexSelect(_ x: Tensor, _ axis: Int, _ indices: Tensor, _ y: Tensor) -> Tensor {
        record(y, [x], vjp: { g, _ in [Tensor.zeros(like: x).indexAdding(axis: axis, indices: indices, source: g)] },
               jvp: { _, t in t[0]!.indexSelect(axis: axis, indices: indices) })
    }
    static func indexAdd(_ x: Tensor, _ axis: Int, _ indices: Tensor, _ source: Tensor, _ y: Tensor) -> Tensor {
        record(y, [x, source], vjp: { g, _ in [g, g.indexSelect(axis: axis, indices: indices)] },
               jvp: { _, t in (t[0] ?? Tensor.zeros(like: x)).indexAdding(axis: axis, indices: indices, source: t[1] ?? Tensor.zeros(like: source)) })
    }

    // MARK: Sliding windows (im2col and its adjoint)
    static func unfold(_ x: Tensor, _ window: Window2D, _ y: Tensor) -> Tensor {
        let size = (x.shape[2], x.shape[3])
        return record(y, [x], vjp: { g, _ in [g.folded(outputSize: size, window)] },
                      jvp: { _, t in t[0]!.unfolded(window) })
    }
    static func fold(_ x: Tensor, _ size: (Int, Int), _ window: Window2D, _ y: Tensor) -> Tensor {
        record(y, [x], vjp: { g, _ in [g.unfolded(window)] }, jvp: { _, t in t[0]!.folded(outputSize: size, window) })
    }

    // MARK: Fourier transforms (linear: each rule is the other transform, with bin weights)
    /// rfft: ∂x = n · irfft(w ∘ g) with w = 1 at X_0, X_{n/2} and ½ between (the two halves of
    /// the Hermitian spectrum fold onto one bin); JVP rfft(t).
    static func rfft(_ x: Tensor, _ re: Tensor, _ im: Tensor) -> [Tensor] {
        let n = x.shape[x.rank - 1]
        return recordMultiple([re, im], [x], vjp: { gs, ys in
            let w = Tensor.fftBinWeights(n, middle: 0.5, dtype: x.dtype)
            let g = ComplexTensor(real: (gs[0] ?? Tensor.zeros(like: ys[0])) * w, imaginary: (gs[1] ?? Tensor.zeros(like: ys[1])) * w)
            return [Tensor.irfft(g, count: n) * Double(n)]
        }, jvp: { _, t in
            let f = t[0]!.rfft()
            return [f.real, f.imaginary]
        })
    }
    /// irfft: ∂X = (c/n) ∘ rfft(g) with c = 1 at X_0, X_{n/2} and 2 between (0 for the imaginary
    /// parts of X_0, X_{n/2}, which do not enter); JVP irfft(t).
    static func irfft(_ re: Tensor, _ im: Tensor, _ y: Tensor, count n: Int) -> Tensor {
        recordMultiple([y], [re, im], vjp: { gs, ys in
            let f = (gs[0] ?? Tensor.zeros(like: ys[0])).rfft()
            let wr = Tensor.fftBinWeights(n, ends: 1 / Double(n), middle: 2 / Double(n), dtype: re.dtype)
            let wi = Tensor.fftBinWeights(n, ends: 0, middle: 2 / Double(n), dtype: re.dtype)
            return [f.real * wr, f.imaginary * wi]
        }, jvp: { _, t in
            [Tensor.irfft(ComplexTensor(real: t[0] ?? Tensor.zeros(like: re), imaginary: t[1] ?? Tensor.zeros(like: im)), count: n)]
        })[0]
    }

    // MARK: Matrix product
    /// y = x·Wᵀ + b over rows of x: dx = g·W, dW = gᵀ·x (rows flattened), db = Σ_rows g.
    static func linear(_ x: Tensor, _ w: Tensor, _ b: Tensor?, _ y: Tensor) -> Tensor {
        let inputs = b.map { [x, w, $0] } ?? [x, w]
        let (out, inp) = (w.shape[0], w.shape[1])
        // Products for inputs nobody differentiates (data fed to a first layer) are skipped.
        let (needX, needW) = (x.ad?.node != nil, w.ad?.node != nil)
        return record(y, inputs, vjp: { g, _ in
            let g2 = g.reshaped(to: [-1, out]), x2 = x.reshaped(to: [-1, inp])
            // dx as one [rows, out]·[out, in] product (not one per leading index of x).
            var grads: [Tensor?] = [needX ? Tensor.matmul(g2, w).reshaped(to: x.shape) : nil,
                                    needW ? Tensor.matmul(g2, x2, transposeA: true) : nil]
            if b != nil { grads.append(g2.sum(axis: 0)) }
            return grads
        }, jvp: { y, t in
            var parts: [Tensor?] = [t[0].map { Tensor.linear($0, weight: w, bias: nil) }, t[1].map { Tensor.linear(x, weight: $0, bias: nil) }]
            if t.count > 2 { parts.append(t[2]) }
            return sumOfTangents(parts, like: y)
        })
    }


    /// C = op(A)·op(B): dA = g·op(B)ᵀ (transposed back if A was), dB = op(A)ᵀ·g (likewise);
    /// broadcast batch axes are summed away.
    static func matmul(_ a: Tensor, _ b: Tensor, _ ta: Bool, _ tb: Bool, _ y: Tensor) -> Tensor {
        let (needA, needB) = (a.ad?.node != nil, b.ad?.node != nil)
        return record(y, [a, b], vjp: { g, _ in
            let da = !needA ? nil : ta ? Tensor.matmul(b, g, transposeA: tb, transposeB: true) : Tensor.matmul(g, b, transposeA: false, transposeB: !tb)
            let db = !needB ? nil : tb ? Tensor.matmul(g, a, transposeA: true, transposeB: ta) : Tensor.matmul(a, g, transposeA: !ta, transposeB: false)
            return [da?.summed(toShape: a.shape), db?.summed(toShape: b.shape)]
        }, jvp: { y, t in
            sumOfTangents([t[0].map { Tensor.matmul($0, b, transposeA: ta, transposeB: tb) },
                           t[1].map { Tensor.matmul(a, $0, transposeA: ta, transposeB: tb) }], like: y)
        })
    }
}
