/// The recurrent cell of a `Recurrent` layer.
public enum RecurrentKind: String, Sendable, Codable {
    /// h' = tanh(W_ih x + b_ih + W_hh h + b_hh)
    case rnnTanh
    /// h' = relu(W_ih x + b_ih + W_hh h + b_hh)
    case rnnReLU
    /// PyTorch's LSTM, gates i, f, g, o: c' = σ(f)c + σ(i)tanh(g), h' = σ(o)tanh(c').
    case lstm
    /// PyTorch's GRU, gates r, z, n: n = tanh(W_in x + b_in + r(W_hn h + b_hn)), h' = (1 − z)n + zh.
    case gru

    /// Gate blocks stacked in the weight matrices.
    public var gateCount: Int {
        switch self {
        case .rnnTanh, .rnnReLU: return 1
        case .lstm: return 4
        case .gru: return 3
        }
    }
}

/// The weights of one layer and direction, in PyTorch's layout: W_ih [G·H, in], W_hh [G·H, H],
/// b_ih, b_hh [G·H] with G gate blocks in PyTorch's order.
public struct RecurrentWeights: ParameterTree {
    public var weightIH: Tensor
    public var weightHH: Tensor
    public var biasIH: Tensor?
    public var biasHH: Tensor?
    var suffix: String

    /// The weights of a single-step cell (names without a layer suffix, as `nn.LSTMCell`), with
    /// PyTorch's initialisation U(−1/√H, 1/√H).
    public static func cell(_ kind: RecurrentKind, inputSize: Int, hiddenSize: Int, dtype: DType,
                            using rng: inout SeededGenerator) -> RecurrentWeights {
        var w = Recurrent(kind, inputSize: inputSize, hiddenSize: hiddenSize, dtype: dtype, using: &rng).weights[0]
        w.suffix = ""
        return w
    }

    public mutating func visitParameters(prefix: String, _ body: (String, inout Tensor) -> Void) {
        body(Self.join(prefix, "weight_ih" + suffix), &weightIH)
        body(Self.join(prefix, "weight_hh" + suffix), &weightHH)
        if biasIH != nil { body(Self.join(prefix, "bias_ih" + suffix), &biasIH!) }
        if biasHH != nil { body(Self.join(prefix, "bias_hh" + suffix), &biasHH!) }
    }
}

/// A multi-layer, optionally bidirectional recurrent network over batch-first sequences, with
/// PyTorch's weight layout, names (`weight_ih_l0`, `weight_hh_l0_reverse`, ...) and gate order, so
/// an `nn.RNN`/`nn.LSTM`/`nn.GRU(batch_first=True)` state dict loads unchanged.
///
/// Shapes: x [B, T, inputSize] → outputs [B, T, D·H] (D = 2 when bidirectional), final hidden
/// (and cell, for LSTM) states [L·D, B, H]. Initialisation (PyTorch): every weight and bias
/// U(−1/√H, 1/√H).
/// The input projection of all time steps is one GEMM; the LSTM recurrence is a fused primitive
/// (`Tensor.lstmRecurrence`); RNN and GRU steps are composed of primitives.
public struct Recurrent: Layer {
    public let kind: RecurrentKind
    public let inputSize: Int
    public let hiddenSize: Int
    public let layerCount: Int
    public let bidirectional: Bool
    /// Index layer·D + direction.
    public var weights: [RecurrentWeights]

    public init(_ kind: RecurrentKind, inputSize: Int, hiddenSize: Int, layerCount: Int = 1, bidirectional: Bool = false,
                bias: Bool = true, dtype: DType = .float32, using rng: inout SeededGenerator) {
        precondition(inputSize > 0 && hiddenSize > 0 && layerCount > 0,
                     "Recurrent: sizes must be positive (input \(inputSize), hidden \(hiddenSize), layers \(layerCount))")
        self.kind = kind
        self.inputSize = inputSize
        self.hiddenSize = hiddenSize
        self.layerCount = layerCount
        self.bidirectional = bidirectional
        let bound = 1 / Double(hiddenSize).squareRoot()
        let g = kind.gateCount * hiddenSize
        let directions = bidirectional ? 2 : 1
        var ws: [RecurrentWeights] = []
        for layer in 0..<layerCount {
            for d in 0..<directions {
                let inSize = layer == 0 ? inputSize : hiddenSize * directions
                ws.append(RecurrentWeights(
                    weightIH: uniformInit([g, inSize], bound: bound, dtype: dtype, using: &rng),
                    weightHH: uniformInit([g, hiddenSize], bound: bound, dtype: dtype, using: &rng),
                    biasIH: bias ? uniformInit([g], bound: bound, dtype: dtype, using: &rng) : nil,
                    biasHH: bias ? uniformInit([g], bound: bound, dtype: dtype, using: &rng) : nil,
                    suffix: "_l\(layer)" + (d == 1 ? "_reverse" : "")))
            }
        }
        weights = ws
    }

    public mutating func visitParameters(prefix: String, _ body: (String, inout Tensor) -> Void) {
        for i in weights.indices { weights[i].visitParameters(prefix: prefix, body) }
    }

    /// All hidden states of the last layer, from zero initial states.
    public func callAsFunction(_ x: Tensor) -> Tensor { run(x).outputs }

    /// Runs the network. `hidden` and `cell` (LSTM only) are initial states [L·D, B, H] (zeros when nil).
    public func run(_ x: Tensor, hidden: Tensor? = nil, cell: Tensor? = nil) -> (outputs: Tensor, hidden: Tensor, cell: Tensor?) {
        precondition(x.rank == 3 && x.shape[2] == inputSize, "Recurrent: input \(x.shape) must be [batch, time, \(inputSize)]")
        let (batch, directions) = (x.shape[0], bidirectional ? 2 : 1)
        let stateShape = [layerCount * directions, batch, hiddenSize]
        if let hidden { precondition(hidden.shape == stateShape, "Recurrent: initial hidden state \(hidden.shape) must be \(stateShape)") }
        if let cell { precondition(kind == .lstm && cell.shape == stateShape, "Recurrent: initial cell state \(cell.shape) must be \(stateShape) (LSTM only)") }
        let h0s = (hidden ?? Tensor.zeros(shape: stateShape, dtype: x.dtype)).unstacked(axis: 0)
        let c0s = kind == .lstm ? (cell ?? Tensor.zeros(shape: stateShape, dtype: x.dtype)).unstacked(axis: 0) : []
        var input = x
        var finalH: [Tensor] = [], finalC: [Tensor] = []
        for layer in 0..<layerCount {
            var outs: [Tensor] = []
            for d in 0..<directions {
                let i = layer * directions + d
                let seq = d == 1 ? input.flipped(axes: [1]) : input
                let r = runDirection(weights[i], seq, h0s[i], kind == .lstm ? c0s[i] : nil)
                outs.append(d == 1 ? r.outputs.flipped(axes: [1]) : r.outputs)
                finalH.append(r.hidden)
                if let c = r.cell { finalC.append(c) }
            }
            input = directions == 1 ? outs[0] : Tensor.concatenate(outs, axis: 2)
        }
        return (input, Tensor.stack(finalH, axis: 0), kind == .lstm ? Tensor.stack(finalC, axis: 0) : nil)
    }

    func runDirection(_ w: RecurrentWeights, _ x: Tensor, _ h0: Tensor, _ c0: Tensor?) -> (outputs: Tensor, hidden: Tensor, cell: Tensor?) {
        let bias: Tensor? = {
            switch (w.biasIH, w.biasHH, kind) {
            case (_, _, .gru): return w.biasIH  // b_hn sits inside r ⊙ (·): GRU adds b_hh per step
            case let (a?, b?, _): return a + b
            case let (a?, nil, _): return a
            case let (nil, b?, _): return b
            default: return nil
            }
        }()
        if kind == .lstm {
            // Input projection fused into the recurrence (one GEMM of depth I + H per step).
            let r = Tensor.lstmSequence(x, inputWeight: w.weightIH, bias: bias, recurrentWeight: w.weightHH, hidden: h0, cell: c0!)
            return (r.outputs, r.hidden, r.cell)
        }
        let projected = Tensor.linear(x, weight: w.weightIH, bias: bias)   // [B, T, G·H], one GEMM
        switch kind {
        case .rnnTanh, .rnnReLU, .lstm:  // (.lstm returned above, through lstmSequence)
            var h = h0
            var hs: [Tensor] = []
            for xt in projected.unstacked(axis: 1) {
                let z = Tensor.linear(h, weight: w.weightHH, bias: nil) + xt
                h = kind == .rnnTanh ? z.tanh() : z.relu()
                hs.append(h)
            }
            return (Tensor.stack(hs, axis: 1), h, nil)
        case .gru:
            var h = h0
            var hs: [Tensor] = []
            for xt in projected.unstacked(axis: 1) {
                h = GRUCell.update(projected: xt, hidden: h, w)
                hs.append(h)
            }
            return (Tensor.stack(hs, axis: 1), h, nil)
        }
    }
}

/// One step of a recurrent cell; any cell (including a user's own) runs through `unroll`.
/// Cells are not `Layer`s: a step maps (input, state) to (output, state), and the state has the
/// cell's own type. `Recurrent` is the `Layer` over whole sequences.
public protocol RecurrentCell: ParameterTree {
    associatedtype State
    /// The next state and this step's output for input x_t [B, in].
    func step(_ x: Tensor, _ state: State) -> (output: Tensor, state: State)
}

/// Runs `cell` over a batch-first sequence x [B, T, in]: outputs stacked [B, T, ...] and the final state.
public func unroll<C: RecurrentCell>(_ cell: C, _ x: Tensor, initialState: C.State) -> (outputs: Tensor, state: C.State) {
    precondition(x.rank == 3, "unroll: input \(x.shape) must be [batch, time, features]")
    var state = initialState
    var outs: [Tensor] = []
    for xt in x.unstacked(axis: 1) {
        let (y, s) = cell.step(xt, state)
        outs.append(y)
        state = s
    }
    return (Tensor.stack(outs, axis: 1), state)
}

/// A single LSTM step (Hochreiter & Schmidhuber 1997) with PyTorch's `nn.LSTMCell` layout and names
/// (`weight_ih` [4H, I], `weight_hh` [4H, H], `bias_ih`, `bias_hh` [4H]), gates i, f, g, o:
///
///     [i f g o] = x·W_ihᵀ + b_ih + h·W_hhᵀ + b_hh,  c' = σ(f)⊙c + σ(i)⊙tanh(g),  h' = σ(o)⊙tanh(c')
///
/// Shapes: x [B, I], state (h, c) each [B, H] → output h' [B, H]. Initialisation (PyTorch): U(±1/√H).
public struct LSTMCell: RecurrentCell {
    public var weights: RecurrentWeights

    public init(inputSize: Int, hiddenSize: Int, dtype: DType = .float32, using rng: inout SeededGenerator) {
        weights = .cell(.lstm, inputSize: inputSize, hiddenSize: hiddenSize, dtype: dtype, using: &rng)
    }

    /// (h', (h', c')) for input x [B, I] and state (h, c).
    public func step(_ x: Tensor, _ state: (h: Tensor, c: Tensor)) -> (output: Tensor, state: (h: Tensor, c: Tensor)) {
        let z = Tensor.linear(x, weight: weights.weightIH, bias: weights.biasIH) + Tensor.linear(state.h, weight: weights.weightHH, bias: weights.biasHH)
        let p = z.split(count: 4, axis: -1)
        let c = p[1].sigmoid() * state.c + p[0].sigmoid() * p[2].tanh()
        let h = p[3].sigmoid() * c.tanh()
        return (h, (h, c))
    }

    public mutating func visitParameters(prefix: String, _ body: (String, inout Tensor) -> Void) {
        weights.visitParameters(prefix: prefix, body)
    }
}

/// A single GRU step (Cho et al. 2014) with PyTorch's `nn.GRUCell` layout and names (`weight_ih`
/// [3H, I], `weight_hh` [3H, H], `bias_ih`, `bias_hh` [3H]), gates r, z, n:
///
///     r, z = σ(x·W_irᵀ + b_ir + h·W_hrᵀ + b_hr), σ(…),  n = tanh(x·W_inᵀ + b_in + r⊙(h·W_hnᵀ + b_hn)),
///     h' = (1 − z)⊙n + z⊙h
///
/// Shapes: x [B, I], state h [B, H] → output h' [B, H]. Initialisation (PyTorch): U(±1/√H).
public struct GRUCell: RecurrentCell {
    public var weights: RecurrentWeights

    public init(inputSize: Int, hiddenSize: Int, dtype: DType = .float32, using rng: inout SeededGenerator) {
        weights = .cell(.gru, inputSize: inputSize, hiddenSize: hiddenSize, dtype: dtype, using: &rng)
    }

    /// (h', h') for input x [B, I] and state h [B, H].
    public func step(_ x: Tensor, _ h: Tensor) -> (output: Tensor, state: Tensor) {
        let next = Self.update(projected: Tensor.linear(x, weight: weights.weightIH, bias: weights.biasIH), hidden: h, weights)
        return (next, next)
    }

    /// The GRU update from the projected input x̃ = x·W_ihᵀ + b_ih [B, 3H] (gate order r, z, n):
    /// r, z = σ(x̃_r + h·W_hrᵀ + b_hr), σ(x̃_z + …), n = tanh(x̃_n + r ⊙ (h·W_hnᵀ + b_hn)),
    /// h' = n + z ⊙ (h − n). Shared by the cell and `Recurrent`'s sequence loop.
    static func update(projected xt: Tensor, hidden h: Tensor, _ w: RecurrentWeights) -> Tensor {
        let xx = xt.split(count: 3, axis: -1)
        let hh = Tensor.linear(h, weight: w.weightHH, bias: w.biasHH).split(count: 3, axis: -1)
        let r = (xx[0] + hh[0]).sigmoid(), z = (xx[1] + hh[1]).sigmoid()
        let n = (xx[2] + r * hh[2]).tanh()
        return n + z * (h - n)
    }

    public mutating func visitParameters(prefix: String, _ body: (String, inout Tensor) -> Void) {
        weights.visitParameters(prefix: prefix, body)
    }
}

/// A single Elman RNN step (Elman 1990; PyTorch's `nn.RNNCell`, tanh):
/// h' = tanh(x·W_ihᵀ + b_ih + h·W_hhᵀ + b_hh).
///
/// Shapes: x [B, I], state h [B, H] → output h' [B, H]; W_ih [H, I], W_hh [H, H], b [H].
/// Initialisation (PyTorch): U(±1/√H).
public struct RNNCell: RecurrentCell {
    public var weights: RecurrentWeights

    public init(inputSize: Int, hiddenSize: Int, dtype: DType = .float32, using rng: inout SeededGenerator) {
        weights = .cell(.rnnTanh, inputSize: inputSize, hiddenSize: hiddenSize, dtype: dtype, using: &rng)
    }

    /// (h', h') for input x [B, I] and state h [B, H].
    public func step(_ x: Tensor, _ h: Tensor) -> (output: Tensor, state: Tensor) {
        let next = (Tensor.linear(x, weight: weights.weightIH, bias: weights.biasIH)
                    + Tensor.linear(h, weight: weights.weightHH, bias: weights.biasHH)).tanh()
        return (next, next)
    }

    public mutating func visitParameters(prefix: String, _ body: (String, inout Tensor) -> Void) {
        weights.visitParameters(prefix: prefix, body)
    }
}
