import FluxionKernels

/// Activations the fused multilayer-perceptron kernel implements (`Tensor.mlp`).
public enum MLPActivation: Sendable, Equatable {
    case relu, tanh, silu

    func apply(_ x: Tensor) -> Tensor {
        switch self {
        case .relu: return x.relu()
        case .tanh: return x.tanh()
        case .silu: return x.silu()
        }
    }
}

extension Tensor {
    /// A multilayer perceptron as one primitive:
    ///
    ///     h₀ = x,   h_{l+1} = f(h_l·W_lᵀ + b_l)  (l < L − 1),   y = h_{L−1}·W_{L−1}ᵀ + b_{L−1}
    ///
    /// Shapes: x [..., s₀]; W_l [s_{l+1}, s_l] (PyTorch's `nn.Linear` layout); b_l [s_{l+1}];
    /// y [..., s_L]. Equal in value and in derivatives of every order to the chain of
    /// `Tensor.linear` and the activation.
    ///
    /// Float32 first-order training runs a fused kernel (NOTE(6)): the rows are split into one
    /// block per thread and each thread takes its block through every layer, forward and backward,
    /// with single-threaded GEMMs and the bias and activation applied in the same sweep; only the
    /// weight gradients are summed across threads at the end. Small batches of wide layers thus no
    /// longer pay a synchronisation per product and per elementwise op, and no graph node is made
    /// per layer. Under nested transforms (higher order, forward mode) or in Float64 the composite
    /// chain runs instead (NOTE(6)).
    public static func mlp(_ x: Tensor, weights: [Tensor], biases: [Tensor], activation: MLPActivation) -> Tensor {
        precondition(!weights.isEmpty && weights.count == biases.count,
                     "mlp: needs one bias per weight and at least one layer, got \(weights.count) weights and \(biases.count) biases")
        var width = x.rank >= 1 ? x.shape[x.rank - 1] : -1
        for (l, (w, b)) in zip(weights, biases).enumerated() {
            precondition(w.rank == 2 && w.shape[1] == width,
                         "mlp: weight \(l) has shape \(w.shape), expected [_, \(width)] (input \(x.shape))")
            precondition(b.shape == [w.shape[0]], "mlp: bias \(l) has shape \(b.shape), expected [\(w.shape[0])]")
            precondition(w.dtype == x.dtype && b.dtype == x.dtype && x.dtype.isFloatingPoint,
                         "mlp: layer \(l) has dtypes \(w.dtype)/\(b.dtype), input \(x.dtype): must be the same float type")
            width = w.shape[0]
        }
        let layers = weights.count
        func reference(_ xs: [Tensor]) -> [Tensor] {
            var h = xs[0]
            for l in 0..<layers {
                h = Tensor.linear(h, weight: xs[1 + 2 * l], bias: xs[2 + 2 * l])
                if l < layers - 1 { h = activation.apply(h) }
            }
            return [h]
        }
        let inputs = [x] + zip(weights, biases).flatMap { [$0, $1] }
        let rows = x.count / Swift.max(x.shape[x.rank - 1], 1)
        return fusedPrimitive(inputs, kernelSupports: x.dtype == .float32 && rows > 0, reference: reference) {
            let sizes = [x.shape[x.rank - 1]] + weights.map { $0.shape[0] }
            let kernel = MLPKernel(rows: rows, sizes: sizes, activation: activation)
            let xd = x.detached, ws = weights.map(\.detached), bs = biases.map(\.detached)
            var y = Tensor(uninitializedShape: Array(x.shape.dropLast()) + [sizes[layers]], dtype: .float32)
            let saved = kernel.forward(xd, ws, bs, into: &y)
            let needX = x.ad?.node != nil
            return FusedKernel(outputs: [y], pullback: { gs in
                let grads = kernel.backward(gs[0]!.detached, xd, ws, saved, needX: needX)
                return [grads.dx] + zip(grads.dw, grads.db).flatMap { [$0 as Tensor?, $1] }
            })
        }[0]
    }
}

/// The row-blocked kernels behind `Tensor.mlp` (Float32).
struct MLPKernel {
    let rows: Int
    let sizes: [Int]
    let activation: MLPActivation
    /// Row blocks: one per thread, at least 32 rows each.
    let blocks: RowBlocks

    init(rows: Int, sizes: [Int], activation: MLPActivation) {
        self.rows = rows
        self.sizes = sizes
        self.activation = activation
        blocks = RowBlocks(rows: rows, minRows: 32)
    }

    var layers: Int { sizes.count - 1 }

    /// What the backward pass needs: each hidden layer's output a_l = f(z_l), and for SiLU also
    /// z_l and σ(z_l).
    struct Saved {
        var post: [Tensor] = []
        var pre: [Tensor] = []
        var sigmoid: [Tensor] = []
    }

    func forward(_ x: Tensor, _ ws: [Tensor], _ bs: [Tensor], into y: inout Tensor) -> Saved {
        var saved = Saved()
        let silu = activation == .silu
        for l in 0..<(layers - 1) {
            saved.post.append(Tensor(uninitializedShape: [rows, sizes[l + 1]], dtype: .float32))
            if silu {
                saved.pre.append(Tensor(uninitializedShape: [rows, sizes[l + 1]], dtype: .float32))
                saved.sigmoid.append(Tensor(uninitializedShape: [rows, sizes[l + 1]], dtype: .float32))
            }
        }
        let px = x.floatPointer, py = y.mutableFloatPointer
        let post = saved.post.map(\.mutableFloatPointer), pre = saved.pre.map(\.mutableFloatPointer)
        let sig = saved.sigmoid.map(\.mutableFloatPointer)
        let pw = ws.map(\.floatPointer), pb = bs.map(\.floatPointer)
        withExtendedLifetime((x, ws, bs, saved)) {
            blocks.forEach { p in
                let r = blocks.range(p)
                for l in 0..<layers {
                    let (k, n) = (sizes[l], sizes[l + 1])
                    let input = l == 0 ? px + r.lowerBound * k : UnsafePointer(post[l - 1] + r.lowerBound * k)
                    let hidden = l < layers - 1
                    let out = (!hidden ? py : silu ? pre[l] : post[l]) + r.lowerBound * n
                    gemm(transA: false, transB: true, m: r.count, n: n, k: k, alpha: 1, a: input, lda: k,
                         b: pw[l], ldb: k, beta: 0, c: out, ldc: n)
                    let bias = pb[l]
                    for i in 0..<r.count {
                        let o = out + i * n
                        switch (hidden, activation) {
                        case (false, _), (true, .silu), (true, .tanh):
                            for j in 0..<n { o[j] += bias[j] }
                        case (true, .relu):
                            for j in 0..<n { let v = o[j] + bias[j]; o[j] = v < 0 ? 0 : v }  // NaN stays NaN
                        }
                    }
                    guard hidden else { continue }
                    let count = r.count * n, offset = r.lowerBound * n
                    switch activation {
                    case .relu: break
                    case .tanh: VectorMath.tanh(post[l] + offset, post[l] + offset, count)
                    case .silu: VectorMath.silu(pre[l] + offset, post[l] + offset, sigmoid: sig[l] + offset, count)
                    }
                }
            }
        }
        return saved
    }

    func backward(_ g: Tensor, _ x: Tensor, _ ws: [Tensor], _ saved: Saved, needX: Bool)
        -> (dx: Tensor?, dw: [Tensor], db: [Tensor]) {
        let dw = (0..<layers).map { Tensor(uninitializedShape: [sizes[$0 + 1], sizes[$0]], dtype: .float32) }
        let db = (0..<layers).map { Tensor(uninitializedShape: [sizes[$0 + 1]], dtype: .float32) }
        let dx: Tensor? = needX ? Tensor(uninitializedShape: x.shape, dtype: .float32) : nil
        // Block 0 writes the gradients in place; the others into partial sums added at the end.
        let widest = sizes.max()!
        let partialCount = sizes.indices.dropLast().reduce(0) { $0 + sizes[$1] * sizes[$1 + 1] + sizes[$1 + 1] }
        let scratchStride = 2 * blocks.maxRows * widest
        let scratch = Tensor(uninitializedShape: [blocks.count, scratchStride], dtype: .float32)
        let partial = Tensor(uninitializedShape: [blocks.count - 1, partialCount], dtype: .float32)
        let pg = g.floatPointer, px = x.floatPointer, pw = ws.map(\.floatPointer)
        let post = saved.post.map(\.floatPointer), pre = saved.pre.map(\.floatPointer), sig = saved.sigmoid.map(\.floatPointer)
        let pdw = dw.indices.map { dw[$0].mutableFloatPointer }, pdb = db.indices.map { db[$0].mutableFloatPointer }
        let pdx = dx?.mutableFloatPointer
        let pscratch = scratch.mutableFloatPointer, ppartial = partial.mutableFloatPointer
        withExtendedLifetime((g, x, ws, saved, dw, db, dx, scratch, partial)) {
            blocks.forEach { p in
                let r = blocks.range(p)
                let bufs = (pscratch + p * scratchStride, pscratch + p * scratchStride + scratchStride / 2)
                var dz = UnsafePointer(pg + r.lowerBound * sizes[layers])
                for l in stride(from: layers - 1, through: 0, by: -1) {
                    let (k, n) = (sizes[l], sizes[l + 1])
                    let input = l == 0 ? px + r.lowerBound * k : post[l - 1] + r.lowerBound * k
                    // Partial sums of block p > 0 live at [p − 1] in `partial`, layer by layer.
                    let wOut: UnsafeMutablePointer<Float>, bOut: UnsafeMutablePointer<Float>
                    if p == 0 {
                        (wOut, bOut) = (pdw[l], pdb[l])
                    } else {
                        let base = ppartial + (p - 1) * partialCount + partialOffset(l)
                        (wOut, bOut) = (base, base + n * k)
                    }
                    gemm(transA: true, transB: false, m: n, n: k, k: r.count, alpha: 1, a: dz, lda: n,
                         b: input, ldb: k, beta: 0, c: wOut, ldc: k)
                    for j in 0..<n { bOut[j] = 0 }
                    for i in 0..<r.count {
                        let row = dz + i * n
                        for j in 0..<n { bOut[j] += row[j] }
                    }
                    guard l > 0 || needX else { break }
                    // dh = dz·W_l, then dz_{l−1} = dh ⊙ f'(z_{l−1}) in the same buffer.
                    let dh = l == 0 ? pdx! + r.lowerBound * k : (l % 2 == 0 ? bufs.0 : bufs.1)
                    gemm(transA: false, transB: false, m: r.count, n: k, k: n, alpha: 1, a: dz, lda: n,
                         b: pw[l], ldb: k, beta: 0, c: dh, ldc: k)
                    guard l > 0 else { break }
                    let count = r.count * k, at = r.lowerBound * k
                    switch activation {
                    case .relu:
                        let a = post[l - 1] + at
                        for i in 0..<count { dh[i] = a[i] > 0 ? dh[i] : 0 }
                    case .tanh:
                        let a = post[l - 1] + at
                        for i in 0..<count { dh[i] *= 1 - a[i] * a[i] }
                    case .silu:
                        VectorMath.siluBackward(dh, pre[l - 1] + at, sig[l - 1] + at, dh, count)
                    }
                    dz = UnsafePointer(dh)
                }
            }
            guard blocks.count > 1 else { return }
            // Sum the partial weight and bias gradients into block 0's.
            for l in 0..<layers {
                let (k, n) = (sizes[l], sizes[l + 1])
                let blocksLeft = blocks.count - 1
                func addInto(_ dst: UnsafeMutablePointer<Float>, _ at: Int, _ count: Int) {
                    parallelRanges(count, grain: 1 << 13) { s, e in
                        for q in 0..<blocksLeft {
                            let src = ppartial + q * partialCount + partialOffset(l) + at
                            for i in s..<e { dst[i] += src[i] }
                        }
                    }
                }
                addInto(pdw[l], 0, n * k)
                addInto(pdb[l], n * k, n)
            }
        }
        return (dx, dw, db)
    }

    /// Offset of layer l's [W | b] gradient within one block's partial sums.
    func partialOffset(_ l: Int) -> Int {
        (0..<l).reduce(0) { $0 + sizes[$1] * sizes[$1 + 1] + sizes[$1 + 1] }
    }
}

extension Tensor {
    /// The storage as Float (the tensor must stay alive and unshared while it is used).
    var floatPointer: UnsafePointer<Float> { UnsafePointer(storage.pointer.assumingMemoryBound(to: Float.self)) }
    /// A freshly made tensor's storage, for writing (it must not be shared).
    var mutableFloatPointer: UnsafeMutablePointer<Float> { storage.pointer.assumingMemoryBound(to: Float.self) }
}
