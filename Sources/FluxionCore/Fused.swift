// NOTE(6): fused primitives — one policy, decided here and nowhere else.
//
// A fused primitive (`Tensor.mlp`, `lstmSequence`, `lstmRecurrence`, `attention`,
// `packedAttention`, `layerNorm`, `softmaxCrossEntropy`, Float32 `silu`) has two implementations:
// a hand-written *kernel* that computes the outputs and a first-order pullback, and a *reference*
// composed of ordinary primitives, whose derivative rules (DerivativeRules.swift) give every
// order and forward mode. `fusedPrimitive` picks exactly one of them when the primitive runs:
//
//   kernel     when the kernel supports the inputs (dtype, shape: the primitive says) and the
//              outputs can only be differentiated once, in reverse mode: no forward level is
//              active and at most one reverse transform is recording;
//   reference  otherwise (Float64 where the kernel is Float32-only, a jvp active, gradient of
//              gradient, a Hessian-vector product): the composite runs instead of the kernel,
//              never after it.
//
// So forward mode through a fused primitive costs what the composite costs, once. The one case no
// rule applied at run time can foresee is a pullback taken under a single reverse transform that
// is later called inside another transform (`valueWithPullback`'s pullback differentiated again):
// then, and only then, the pullback differentiates the reference (exact, but the kernel already
// ran). Tests (FusedPrimitiveTests) check that value and gradients of kernel and reference agree.

/// What a fused kernel returns: the outputs and their first-order pullback (one optional output
/// cotangent per output, nil: none reached it; one optional cotangent per input, nil: zero).
struct FusedKernel {
    var outputs: [Tensor]
    var pullback: ([Tensor?]) -> [Tensor?]
}

/// True when a fused kernel may run now (NOTE(6)): its outputs can be differentiated at most once,
/// in reverse mode.
var fusedKernelMayRun: Bool {
    let ctx = ADContext.current
    return ctx.forwardLevels.isEmpty && ctx.reverseDepth <= 1
}

/// Runs a fused primitive of `inputs` (NOTE(6)): `kernel()` when `kernelSupports` and no
/// higher-order or forward-mode derivative can reach the outputs, else `reference(inputs)`.
func fusedPrimitive(_ inputs: [Tensor], kernelSupports: Bool, reference: @escaping ([Tensor]) -> [Tensor],
                    kernel: () -> FusedKernel) -> [Tensor] {
    guard kernelSupports, fusedKernelMayRun else {
        ADContext.current.fusedReferenceRuns += 1
        return reference(inputs)
    }
    ADContext.current.fusedKernelRuns += 1
    let result = kernel()
    let pullback = result.pullback
    return recordMultiple(result.outputs, inputs, vjp: { gs, _ in
        let ctx = ADContext.current
        if ctx.reverseDepth == 0 && ctx.forwardLevels.isEmpty && gs.allSatisfy({ $0?.ad == nil }) { return pullback(gs) }
        return referencePullback(inputs, gs, reference)
    }, jvp: { _, _ in
        preconditionFailure("fusedPrimitive: a forward level reached a kernel that ran without one (NOTE(6))")
    })
}

/// The pullback of `reference` at `inputs` for cotangents `gs`, differentiable itself (the one
/// exception of NOTE(6)).
private func referencePullback(_ inputs: [Tensor], _ gs: [Tensor?], _ reference: ([Tensor]) -> [Tensor]) -> [Tensor?] {
    let grads = gradient(at: inputs.map { $0.dtype.isFloatingPoint ? $0 : Tensor.zeros(shape: [0]) }) { xs -> Tensor in
        let outs = reference(xs)
        var total: Tensor? = nil
        for (y, g) in zip(outs, gs) {
            guard let g else { continue }
            let term = (y * g).sum()
            total = total.map { $0 + term } ?? term
        }
        return total ?? Tensor.zeros(shape: [], dtype: outs[0].dtype)
    }
    return zip(inputs, grads).map { x, g in x.dtype.isFloatingPoint ? g : nil }
}
