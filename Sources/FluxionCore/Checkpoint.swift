// NOTE(5): gradient checkpointing (Chen et al. 2016, "Training deep nets with sublinear memory
// cost"). `checkpoint` runs its block once without recording, keeps only the block's inputs, and records one node whose pullback
// recomputes the block under a fresh `valueWithPullback` and pulls the cotangent back through it.
// Because that recomputation is itself an ordinary transform, nested gradients see through it.
// Every differentiated tensor the block touches must be passed in (as `parameters` or input): a
// captured one would lose its gradient, so the first pass stops with a precondition failure.
// Under an active `jvp` the block is recorded normally (same values, no memory saving), so
// checkpointed code composes with forward mode in every nesting order.
// A block that draws random numbers gets a copy of the generator as it was at the first pass, so
// the recomputation replays the same dropout masks.

/// Runs `block(parameters, x)` without storing its intermediate activations; they are recomputed
/// in the backward pass. Gradients flow to `parameters` and `x` exactly as without checkpointing.
public func checkpoint<P: ParameterTree>(_ parameters: P, _ x: Tensor, _ block: @escaping (P, Tensor) -> Tensor) -> Tensor {
    var unused = SeededGenerator(seed: 0)
    return checkpoint(parameters, x, using: &unused) { p, x, _ in block(p, x) }
}

/// Checkpointing for a block that draws random numbers (dropout): the generator's state at the
/// first pass is replayed when the block is recomputed, so the gradients equal those without
/// checkpointing. On return `generator` has advanced exactly as a plain call would advance it.
public func checkpoint<P: ParameterTree>(_ parameters: P, _ x: Tensor, using generator: inout SeededGenerator,
                                         _ block: @escaping (P, Tensor, inout SeededGenerator) -> Tensor) -> Tensor {
    let ctx = ADContext.current
    let inputs = [x] + parameters.namedParameters.map(\.value)
    let tracked = inputs.compactMap { $0.ad?.node }
    // With a forward level active (e.g. a Hessian-vector product through the block), the tangents
    // computed in the first pass would need a reverse graph of their own: record normally instead.
    guard ctx.reverseDepth > 0, ctx.paused == 0, ctx.forwardLevels.isEmpty, !tracked.isEmpty else {
        return block(parameters, x, &generator)
    }
    let saved = generator
    ctx.checkpointInputs.append(Set(tracked.map { ObjectIdentifier($0) }))
    let y = block(parameters, x, &generator)
    ctx.checkpointInputs.removeLast()
    let rebuild: ([Tensor]) -> (P, Tensor) = { xs in
        var i = 1
        return (parameters.mapParameters { _, _ in defer { i += 1 }; return xs[i] }, xs[0])
    }
    return Autodiff.attachNode(y, inputs: inputs, ctx) { g, _ in
        var replay = saved
        let (_, pullback) = valueWithPullback(at: inputs) { xs -> Tensor in
            let (p, x) = rebuild(xs)
            return block(p, x, &replay)
        }
        return pullback(g).map { Optional($0) }
    }
}

/// Applies `blocks` in order, checkpointing segments of `segmentSize` blocks (default ⌈√n⌉): only
/// each segment's input is kept, so activation memory grows as O(√n) instead of O(n), for one
/// extra forward pass.
public func checkpointedSequence<B: ParameterTree>(_ blocks: [B], _ x: Tensor, segmentSize: Int? = nil,
                                                   _ apply: @escaping (B, Tensor) -> Tensor) -> Tensor {
    let n = blocks.count
    let size = segmentSize ?? Swift.max(1, Int(Double(n).squareRoot().rounded(.up)))
    precondition(size > 0, "checkpointedSequence: segmentSize must be positive, got \(size)")
    var h = x
    var start = 0
    while start < n {
        let segment = Array(blocks[start..<Swift.min(n, start + size)])
        h = checkpoint(segment, h) { segment, h in segment.reduce(h) { apply($1, $0) } }
        start += size
    }
    return h
}
