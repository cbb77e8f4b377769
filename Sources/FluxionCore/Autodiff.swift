#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// NOTE(1): the recording's lifetime. A tensor carries autodiff state (`ADState`) only while a
// transform runs: `valueWithGradient`, `vjp` and `jvp` attach it to their inputs, every primitive
// whose inputs carry it attaches it to its output (`record`), and the transform strips it from what
// it returns when no outer transform is left. Outside transforms every tensor has `ad == nil`, so a
// primitive's only autodiff cost is one nil check per input.
//
// NOTE(2): one graph for all reverse levels (as PyTorch's `create_graph`). A primitive records a
// `Node` when a reverse transform is active and an input has a node. A transform lifts its inputs
// into fresh leaf nodes; its backward walk visits only nodes created after those leaves (sequence
// numbers are a topological order, so the walk is a sort, not a recursion) and stops at the leaves.
// The pullbacks are written in Tensor operations, and while they run the transform's own level is
// switched off: if an outer reverse transform is active they are recorded in turn (gradient of
// gradient); if a forward level is active they carry tangents (Hessian-vector products).
//
// NOTE(3): forward levels. Each `jvp` opens a level (increasing integers); a tensor carries one
// tangent per active level. The JVP rule for level L runs with only the levels below L active, so
// a level-L tangent may carry tangents of outer levels (mixed second derivatives) but never of its
// own level: no perturbation confusion and no tangent-of-tangent growth along a chain.

/// Autodiff state of a tensor inside a transform: its reverse node (and which of the node's
/// outputs it is) and its forward tangents.
@usableFromInline
final class ADState {
    let node: Node?
    let outputIndex: Int
    let tangents: [(level: Int, value: Tensor)]
    init(node: Node?, outputIndex: Int = 0, tangents: [(level: Int, value: Tensor)]) {
        self.node = node
        self.outputIndex = outputIndex
        self.tangents = tangents
    }
}

/// A reference to one output of a recorded node.
struct NodeOutput {
    let node: Node
    let index: Int
}

/// A recorded primitive application: its inputs' nodes and the rule that maps output cotangents
/// to input cotangents (`pullback(gs, ys)`: `gs[i]` is nil when output i received no cotangent;
/// `ys` are the outputs, themselves differentiable). Most primitives have one output.
final class Node {
    let sequence: Int
    private(set) var parents: [NodeOutput?]
    private(set) var pullback: (([Tensor?], [Tensor]) -> [Tensor?])?
    let outputs: [Tensor]          // raw output values (no autodiff state)
    var outputTangents: [[(level: Int, value: Tensor)]]

    init(sequence: Int, parents: [NodeOutput?], outputs: [Tensor], pullback: @escaping ([Tensor?], [Tensor]) -> [Tensor?]) {
        self.sequence = sequence
        self.parents = parents
        self.outputs = outputs
        self.pullback = pullback
        outputTangents = outputs.map { _ in [] }
    }

    /// A single-output node.
    convenience init(sequence: Int, parents: [NodeOutput?], output: Tensor, pullback: @escaping (Tensor, Tensor) -> [Tensor?]) {
        self.init(sequence: sequence, parents: parents, outputs: [output]) { gs, ys in pullback(gs[0]!, ys[0]) }
    }

    // NOTE(4): a long graph (an unrolled RNN, a 100,000-step chain) must not be freed recursively:
    // releasing the last node would release its parents from inside its deinit, and so on down the
    // chain until the stack overflows. Each deinit instead detaches its parents and pullback and
    // frees the chain in a loop, descending only into nodes nobody else holds.
    deinit {
        var stack: [Node] = []
        detach(into: &stack)
        while var n = stack.popLast() {
            if isKnownUniquelyReferenced(&n) { n.detach(into: &stack) }
        }
    }

    private func detach(into stack: inout [Node]) {
        let ps = parents
        parents = []
        pullback = nil
        outputTangents = []
        for case let p? in ps { stack.append(p.node) }
    }

    /// Forgets the output tangents of a forward level that has ended (ADContext.levelNodes).
    func dropTangents(atLevel level: Int) {
        for i in outputTangents.indices { outputTangents[i].removeAll { $0.level == level } }
    }

    /// Input cotangents for the given output cotangents (missing outputs: zeros, for single-output nodes).
    func runPullback(_ gs: [Tensor?]) -> [Tensor?] { pullback!(gs, differentiableOutputs) }

    /// The outputs as differentiable tensors (node and tangents attached).
    var differentiableOutputs: [Tensor] {
        outputs.indices.map { i in
            var y = outputs[i]
            y.ad = ADState(node: self, outputIndex: i, tangents: outputTangents[i])
            return y
        }
    }
}

extension ADState {
    var nodeOutput: NodeOutput? { node.map { NodeOutput(node: $0, index: outputIndex) } }
}

/// Per-thread transform state.
final class ADContext {
    var reverseDepth = 0
    var forwardLevels: [Int] = []
    var paused = 0
    /// Inside a checkpointed block's first forward pass: reverse recording is off, and the only
    /// tracked tensors the block may touch are its declared inputs (NOTE(5) in Checkpoint.swift).
    /// (A nil entry: a transform started inside the block, where recording is normal again.)
    var checkpointInputs: [Set<ObjectIdentifier>?] = []
    var nextSequence = 0
    var nextLevel = 1
    /// The nodes that received an output tangent at each active forward level. When the level's
    /// `jvp` returns, those tangents are dropped from the nodes: a tangent computed under a reverse
    /// transform has the node among its ancestors (through the outputs it was computed from), so
    /// node → tangent → … → node would otherwise be a reference cycle that leaks the whole graph
    /// (reverse over forward, e.g. a CNF's traces inside a training step).
    var levelNodes: [Int: [Node]] = [:]
    /// How often fused primitives ran their kernel and their reference on this thread (NOTE(6); tests).
    var fusedKernelRuns = 0, fusedReferenceRuns = 0

    private static let key: pthread_key_t = {
        var k = pthread_key_t()
        pthread_key_create(&k) { p in
            #if canImport(Darwin)
            Unmanaged<ADContext>.fromOpaque(p).release()
            #else
            if let p { Unmanaged<ADContext>.fromOpaque(p).release() }
            #endif
        }
        return k
    }()

    static var current: ADContext {
        if let p = pthread_getspecific(key) {
            return Unmanaged<ADContext>.fromOpaque(p).takeUnretainedValue()
        }
        let c = ADContext()
        pthread_setspecific(key, Unmanaged.passRetained(c).toOpaque())
        return c
    }

    func isForwardActive(_ level: Int) -> Bool { forwardLevels.contains(level) }
}

extension Tensor {
    /// True when this tensor carries autodiff state of a running transform.
    public var isTracked: Bool { ad != nil }

    /// The tensor without any autodiff state: a constant for every transform.
    public var detached: Tensor {
        var t = self
        t.ad = nil
        return t
    }

    func tangent(atLevel level: Int) -> Tensor? {
        ad?.tangents.first(where: { $0.level == level })?.value
    }
}

/// The rules table calls this for every primitive: attaches a reverse node and forward tangents to
/// the raw output `y` when any input is tracked by an active transform.
///
/// - `vjp(g, y)`: input cotangents for output cotangent `g` (nil: zero or not differentiable).
/// - `jvp(y, ts)`: output tangent for input tangents `ts` (nil: zero).
@inline(__always)
func record(_ y: Tensor, _ inputs: [Tensor],
            vjp: @escaping (Tensor, Tensor) -> [Tensor?],
            jvp: @escaping (Tensor, [Tensor?]) -> Tensor) -> Tensor {
    var tracked = false
    for x in inputs where x.ad != nil { tracked = true; break }
    if !tracked { return y }
    return recordSlow([y], inputs, vjp: { gs, ys in vjp(gs[0] ?? Tensor.zeros(like: ys[0]), ys[0]) },
                      jvp: { ys, ts in [jvp(ys[0], ts)] })[0]
}

/// A primitive with several outputs (e.g. `unstacked`): `vjp(gs, ys)` gets one optional cotangent
/// per output (nil: none reached it), `jvp(ys, ts)` returns one tangent per output.
func recordMultiple(_ ys: [Tensor], _ inputs: [Tensor],
                    vjp: @escaping ([Tensor?], [Tensor]) -> [Tensor?],
                    jvp: @escaping ([Tensor], [Tensor?]) -> [Tensor]) -> [Tensor] {
    if !inputs.contains(where: { $0.ad != nil }) { return ys }
    return recordSlow(ys, inputs, vjp: vjp, jvp: jvp)
}

@inline(never)
func recordSlow(_ ys: [Tensor], _ inputs: [Tensor],
                vjp: @escaping ([Tensor?], [Tensor]) -> [Tensor?],
                jvp: ([Tensor], [Tensor?]) -> [Tensor]) -> [Tensor] {
    let ctx = ADContext.current
    if ctx.paused > 0 { return ys }
    var node: Node? = nil
    if let allowed = ctx.checkpointInputs.last ?? nil {
        for x in inputs {
            if let n = x.ad?.node, !allowed.contains(ObjectIdentifier(n)) {
                preconditionFailure("checkpoint: the block uses a tensor of shape \(x.shape) that is differentiated but was not passed to checkpoint as a parameter or input; its gradient would be lost")
            }
        }
    } else if ctx.reverseDepth > 0 {
        let parents = inputs.map { $0.ad?.nodeOutput }
        if parents.contains(where: { $0 != nil }) {
            node = Node(sequence: ctx.nextSequence, parents: parents, outputs: ys.map(\.detached), pullback: vjp)
            ctx.nextSequence += 1
        }
    }
    var tangents: [[(level: Int, value: Tensor)]] = ys.map { _ in [] }
    if !ctx.forwardLevels.isEmpty {
        var ysWithNode = ys
        func attach() {
            for i in ys.indices { ysWithNode[i].ad = ADState(node: node, outputIndex: i, tangents: tangents[i]) }
        }
        if node != nil { attach() }
        let levels = ctx.forwardLevels
        for level in levels {
            let ts = inputs.map { $0.tangent(atLevel: level) }
            if ts.allSatisfy({ $0 == nil }) { continue }
            ctx.forwardLevels = levels.filter { $0 < level }  // ascending: NOTE(3)
            let out = jvp(ysWithNode, ts)
            ctx.forwardLevels = levels
            for i in ys.indices {
                let t = out[i].shape == ys[i].shape ? out[i] : out[i].expanded(to: ys[i].shape)
                tangents[i].append((level, t))
            }
            if let node { ctx.levelNodes[level, default: []].append(node) }
            // Higher levels see this level's tangent on the outputs (mixed derivatives).
            attach()
        }
    }
    let hasTangents = tangents.contains { !$0.isEmpty }
    if node == nil && !hasTangents { return ys }
    node?.outputTangents = tangents
    return ys.indices.map { i in
        var out = ys[i]
        out.ad = ADState(node: node, outputIndex: i, tangents: tangents[i])
        return out
    }
}

/// Sum of the non-nil tangents (`zeros` shaped like `like` when all are nil).
func sumOfTangents(_ ts: [Tensor?], like y: Tensor) -> Tensor {
    var acc: Tensor? = nil
    for t in ts { if let t { acc = acc.map { $0 + t } ?? t } }
    return acc ?? Tensor.zeros(like: y)
}

enum Autodiff {
    /// Attaches a hand-made reverse node to `y` (used by `checkpoint`): parents are the inputs' nodes.
    static func attachNode(_ y: Tensor, inputs: [Tensor], _ ctx: ADContext, pullback: @escaping (Tensor, Tensor) -> [Tensor?]) -> Tensor {
        let node = Node(sequence: ctx.nextSequence, parents: inputs.map { $0.ad?.nodeOutput }, output: y.detached, pullback: pullback)
        ctx.nextSequence += 1
        node.outputTangents = [y.ad?.tangents ?? []]
        var out = y
        out.ad = ADState(node: node, tangents: node.outputTangents[0])
        return out
    }

    /// Lifts `x` into a fresh leaf of the reverse graph (linked to `x`'s own node, if any, so an
    /// outer transform still sees through it).
    static func makeLeaf(_ x: Tensor, _ ctx: ADContext) -> Tensor {
        precondition(x.dtype.isFloatingPoint, "gradient: cannot differentiate with respect to an \(x.dtype) tensor of shape \(x.shape)")
        let node = Node(sequence: ctx.nextSequence, parents: [x.ad?.nodeOutput], output: x.detached) { g, _ in [g] }
        ctx.nextSequence += 1
        node.outputTangents = [x.ad?.tangents ?? []]
        var y = x
        y.ad = ADState(node: node, tangents: node.outputTangents[0])
        return y
    }

    /// Reverse sweep from `y` (seeded with `seed`) to the leaf nodes; iterative.
    static func backward(from y: Tensor, seed: Tensor, to leaves: [Node], _ ctx: ADContext) -> [Tensor?] {
        guard let root = y.ad?.node, !leaves.isEmpty else { return leaves.map { _ in nil } }
        let minSequence = leaves.map(\.sequence).min()!
        guard root.sequence >= minSequence else { return leaves.map { _ in nil } }
        let leafIDs = Set(leaves.map { ObjectIdentifier($0) })
        // Collect the nodes reachable from the root and created after the first leaf.
        var visited: Set<ObjectIdentifier> = [ObjectIdentifier(root)]
        var stack = [root]
        var order: [Node] = []
        while let n = stack.popLast() {
            order.append(n)
            if leafIDs.contains(ObjectIdentifier(n)) { continue }
            for case let p? in n.parents where p.node.sequence >= minSequence {
                if visited.insert(ObjectIdentifier(p.node)).inserted { stack.append(p.node) }
            }
        }
        order.sort { $0.sequence > $1.sequence }
        var grads: [ObjectIdentifier: [Tensor?]] = [:]
        var rootGrads = [Tensor?](repeating: nil, count: root.outputs.count)
        rootGrads[y.ad!.outputIndex] = seed
        grads[ObjectIdentifier(root)] = rootGrads
        ctx.reverseDepth -= 1
        defer { ctx.reverseDepth += 1 }
        for n in order {
            let id = ObjectIdentifier(n)
            if leafIDs.contains(id) { continue }
            guard let gs = grads.removeValue(forKey: id) else { continue }
            let inputGrads = n.runPullback(gs)
            for (p, gi) in zip(n.parents, inputGrads) {
                guard let p, let gi, p.node.sequence >= minSequence else { continue }
                let pid = ObjectIdentifier(p.node)
                var slot = grads[pid] ?? [Tensor?](repeating: nil, count: p.node.outputs.count)
                slot[p.index] = slot[p.index].map { $0 + gi } ?? gi
                grads[pid] = slot
            }
        }
        return leaves.map { grads[ObjectIdentifier($0)]?[0] ?? nil }
    }

    /// Removes autodiff state that no running transform can use any more.
    static func clean(_ x: Tensor, _ ctx: ADContext) -> Tensor {
        guard let ad = x.ad else { return x }
        let node = ctx.reverseDepth > 0 ? ad.node : nil
        let tangents = ad.tangents.filter { ctx.forwardLevels.contains($0.level) }
        var y = x
        y.ad = (node == nil && tangents.isEmpty) ? nil : ADState(node: node, outputIndex: ad.outputIndex, tangents: tangents)
        return y
    }
}
