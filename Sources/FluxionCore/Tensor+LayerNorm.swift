import FluxionKernels

// Layer normalisation over the trailing `n` elements of each row, as a fused primitive (NOTE(6)):
// one pass for mean and variance, one for the output; the reverse pass is one sweep per row for
// the input cotangent and one column sweep for γ and β:
//
//   x̂ = (x − μ)·r,  r = 1/√(σ² + ε),  y = x̂·γ + β
//   ∂x = r·(ĝ − mean(ĝ) − x̂·mean(ĝ·x̂)),  ĝ = g·γ;   ∂γ = Σ_rows g·x̂;   ∂β = Σ_rows g

extension Tensor {
    /// Layer normalisation of the last axes of `x` whose shape `weight`/`bias` (or `normalizedShape`)
    /// give: y = (x − E[x]) / √(Var[x] + ε) · γ + β, with the biased variance (as PyTorch's
    /// `F.layer_norm`). Shapes: x [..., *normalizedShape] → same; γ, β normalizedShape (optional).
    public static func layerNorm(_ x: Tensor, normalizedShape: [Int], weight: Tensor?, bias: Tensor?, epsilon: Double) -> Tensor {
        precondition(Array(x.shape.suffix(normalizedShape.count)) == normalizedShape && x.dtype.isFloatingPoint,
                     "layerNorm: input \(x.dtype) \(x.shape) does not end with the normalized shape \(normalizedShape)")
        for p in [weight, bias] { if let p { precondition(p.shape == normalizedShape && p.dtype == x.dtype, "layerNorm: parameter \(p.dtype) \(p.shape) must be \(x.dtype) \(normalizedShape)") } }
        var inputs = [x]
        if let weight { inputs.append(weight) }
        if let bias { inputs.append(bias) }
        let hasWeight = weight != nil, hasBias = bias != nil
        return fusedPrimitive(inputs, kernelSupports: true, reference: { xs in
            [layerNormReference(xs[0], normalizedShape: normalizedShape, weight: hasWeight ? xs[1] : nil,
                                bias: hasBias ? xs[hasWeight ? 2 : 1] : nil, epsilon: epsilon)]
        }) { layerNormKernel(x, normalizedShape: normalizedShape, weight: weight, bias: bias, epsilon: epsilon) }[0]
    }

    /// The kernel of `layerNorm` (NOTE(6)).
    static func layerNormKernel(_ x: Tensor, normalizedShape: [Int], weight: Tensor?, bias: Tensor?, epsilon: Double) -> FusedKernel {
        let n = normalizedShape.reduce(1, *)
        let rows = n == 0 ? 0 : x.count / n
        var y = Tensor(uninitializedShape: x.shape, dtype: x.dtype)
        var stats = Tensor(uninitializedShape: [rows, 2], dtype: x.dtype)  // mean, 1/σ per row
        func run<T: TensorFloat & KernelFloat>(_ type: T.Type) {
            x.withUnsafeBufferPointer(as: T.self) { px in y.withUnsafeMutableBufferPointer(as: T.self) { py in
            stats.withUnsafeMutableBufferPointer(as: T.self) { ps in
                withOptionalPointer(weight, T.self) { pw in withOptionalPointer(bias, T.self) { pb in
                    let (xb, yb, sb) = (px.baseAddress!, py.baseAddress!, ps.baseAddress!)
                    parallelRanges(rows, grain: Swift.max(1, parallelGrain / Swift.max(n, 1))) { s, e in
                        for r in s..<e {
                            let xr = xb + r * n, yr = yb + r * n
                            let mean = rowSum(xr, n) / T(n)
                            var v8 = SIMD8<T>(), j = 0
                            let m8 = SIMD8<T>(repeating: mean)
                            while j + 8 <= n { let d = load8(xr + j) - m8; v8 += d * d; j += 8 }
                            var variance = v8.sum()
                            while j < n { let d = xr[j] - mean; variance += d * d; j += 1 }
                            let rstd = 1 / (variance / T(n) + T(epsilon)).squareRoot()
                            sb[2 * r] = mean; sb[2 * r + 1] = rstd
                            let r8 = SIMD8<T>(repeating: rstd)
                            j = 0
                            while j + 8 <= n {
                                var v = (load8(xr + j) - m8) * r8
                                if let pw { v = v * load8(pw + j) }
                                if let pb { v = v + load8(pb + j) }
                                store8(v, yr + j)
                                j += 8
                            }
                            while j < n {
                                var v = (xr[j] - mean) * rstd
                                if let pw { v = v * pw[j] }
                                if let pb { v = v + pb[j] }
                                yr[j] = v
                                j += 1
                            }
                        }
                    }
                } }
            } } }
        }
        if x.dtype == .float32 { run(Float.self) } else { run(Double.self) }
        let savedStats = stats, hasBias = bias != nil
        return FusedKernel(outputs: [y], pullback: { gs in
            layerNormBackward(gs[0]!.detached, x.detached, weight?.detached, savedStats, normalizedShape: normalizedShape, hasBias: hasBias)
        })
    }

    /// `layerNorm` composed of primitives (the fused primitive's reference).
    public static func layerNormReference(_ x: Tensor, normalizedShape: [Int], weight: Tensor?, bias: Tensor?, epsilon: Double) -> Tensor {
        let axes = Array((x.rank - normalizedShape.count)..<x.rank)
        let centered = x - x.mean(axes: axes, keepDims: true)
        let variance = (centered * centered).mean(axes: axes, keepDims: true)
        var y = centered * (variance + epsilon).rsqrt()
        if let weight { y = y * weight }
        if let bias { y = y + bias }
        return y
    }

    static func layerNormBackward(_ g: Tensor, _ x: Tensor, _ weight: Tensor?, _ stats: Tensor, normalizedShape: [Int], hasBias: Bool) -> [Tensor?] {
        let n = normalizedShape.reduce(1, *)
        let rows = n == 0 ? 0 : x.count / n
        var dx = Tensor(uninitializedShape: x.shape, dtype: x.dtype)
        var dw = weight.map { _ in Tensor(uninitializedShape: normalizedShape, dtype: x.dtype) }
        var db = hasBias ? Tensor(uninitializedShape: normalizedShape, dtype: x.dtype) : nil
        func run<T: TensorFloat & KernelFloat>(_ type: T.Type) {
            x.withUnsafeBufferPointer(as: T.self) { px in g.withUnsafeBufferPointer(as: T.self) { pg in
            stats.withUnsafeBufferPointer(as: T.self) { ps in dx.withUnsafeMutableBufferPointer(as: T.self) { pdx in
            withOptionalPointer(weight, T.self) { pw in
                let (xb, gb, sb, dxb) = (px.baseAddress!, pg.baseAddress!, ps.baseAddress!, pdx.baseAddress!)
                parallelRanges(rows, grain: Swift.max(1, parallelGrain / Swift.max(n, 1))) { s, e in
                    for r in s..<e {
                        let xr = xb + r * n, gr = gb + r * n, dr = dxb + r * n
                        let (mean, rstd) = (sb[2 * r], sb[2 * r + 1])
                        let m8 = SIMD8<T>(repeating: mean), r8 = SIMD8<T>(repeating: rstd)
                        var s1 = SIMD8<T>(), s2 = SIMD8<T>(), j = 0
                        while j + 8 <= n {
                            var gh = load8(gr + j)
                            if let pw { gh = gh * load8(pw + j) }
                            s1 += gh
                            s2 += gh * (load8(xr + j) - m8) * r8
                            j += 8
                        }
                        var (a, b) = (s1.sum(), s2.sum())
                        while j < n {
                            let gh = gr[j] * (pw?[j] ?? 1)
                            a += gh; b += gh * (xr[j] - mean) * rstd
                            j += 1
                        }
                        a /= T(n); b /= T(n)
                        let a8 = SIMD8<T>(repeating: a), b8 = SIMD8<T>(repeating: b)
                        j = 0
                        while j + 8 <= n {
                            var gh = load8(gr + j)
                            if let pw { gh = gh * load8(pw + j) }
                            let xh = (load8(xr + j) - m8) * r8
                            store8(r8 * (gh - a8 - xh * b8), dr + j)
                            j += 8
                        }
                        while j < n {
                            let gh = gr[j] * (pw?[j] ?? 1)
                            dr[j] = rstd * (gh - a - (xr[j] - mean) * rstd * b)
                            j += 1
                        }
                    }
                }
            } } } } }
            // ∂γ, ∂β: column sums over rows, columns split across threads.
            if dw == nil && db == nil { return }
            var dwBuf = dw ?? Tensor.zeros(shape: [0], dtype: x.dtype), dbBuf = db ?? Tensor.zeros(shape: [0], dtype: x.dtype)
            let wantW = dw != nil, wantB = db != nil
            x.withUnsafeBufferPointer(as: T.self) { px in g.withUnsafeBufferPointer(as: T.self) { pg in
            stats.withUnsafeBufferPointer(as: T.self) { ps in
            dwBuf.withUnsafeMutableBufferPointer(as: T.self) { pdw in dbBuf.withUnsafeMutableBufferPointer(as: T.self) { pdb in
                let (xb, gb, sb) = (px.baseAddress!, pg.baseAddress!, ps.baseAddress!)
                let columnBlocks = (n + 7) / 8
                parallelRanges(columnBlocks, grain: Swift.max(1, parallelGrain / Swift.max(8 * rows, 1))) { s, e in
                    let c0 = s * 8, c1 = Swift.min(n, e * 8)
                    var accW = [T](repeating: 0, count: c1 - c0), accB = [T](repeating: 0, count: c1 - c0)
                    for r in 0..<rows {
                        let xr = xb + r * n, gr = gb + r * n
                        let (mean, rstd) = (sb[2 * r], sb[2 * r + 1])
                        for c in c0..<c1 {
                            accB[c - c0] += gr[c]
                            accW[c - c0] += gr[c] * (xr[c] - mean) * rstd
                        }
                    }
                    for c in c0..<c1 {
                        if wantW { pdw[c] = accW[c - c0] }
                        if wantB { pdb[c] = accB[c - c0] }
                    }
                }
            } } } } }
            if wantW { dw = dwBuf }
            if wantB { db = dbBuf }
        }
        if x.dtype == .float32 { run(Float.self) } else { run(Double.self) }
        var out: [Tensor?] = [dx]
        if let dw { out.append(dw) }
        if hasBias { out.append(db) }
        return out
    }
}

/// Calls `body` with the tensor's base address, or nil when there is no tensor.
@inline(__always)
func withOptionalPointer<T: TensorFloat, R>(_ x: Tensor?, _ type: T.Type, _ body: (UnsafePointer<T>?) -> R) -> R {
    guard let x else { return body(nil) }
    return x.withUnsafeBufferPointer(as: T.self) { body($0.baseAddress!) }
}
