import Foundation

// NOTE(1): optimisers only write the per-parameter update. `Optimizer.update(_:along:)` walks the
// model and its gradient (a value of the same type) in visiting order, skips frozen parameters,
// and calls `step(_:_:_:)` with the parameter's name, so state (moments, momentum buffers) is kept
// per name. That makes the state a plain `[String: Tensor]`, saved and restored as safetensors.

/// A first-order optimiser over any `ParameterTree`.
public protocol Optimizer {
    /// The rate used by the next update (set it from a `LearningRateSchedule` to schedule it).
    var learningRate: Double { get set }
    /// Updates taken so far.
    var stepCount: Int { get set }
    /// Per-parameter state, by slot and parameter name (e.g. `"exp_avg/layers.0.weight"`).
    var state: [String: Tensor] { get set }
    /// Names (or dotted prefixes) of parameters that are not updated.
    var frozen: Set<String> { get set }
    /// The names of the per-parameter state slots (`"exp_avg"`, ...), checked by `loadState`.
    static var slotNames: Set<String> { get }
    /// Updates one parameter in place given its gradient (stepCount already incremented).
    mutating func step(_ name: String, _ parameter: inout Tensor, _ gradient: Tensor)
}

extension Optimizer {
    /// One optimisation step: every non-frozen parameter of `model` moves along `gradient`.
    public mutating func update<M: ParameterTree>(_ model: inout M, along gradient: M) {
        let grads = gradient.namedParameters
        stepCount += 1
        var i = 0
        var this = self
        model.visitParameters(prefix: "") { name, p in
            defer { i += 1 }
            precondition(i < grads.count && grads[i].name == name, "Optimizer.update: gradient does not have the model's structure at '\(name)'")
            precondition(grads[i].value.shape == p.shape, "Optimizer.update: gradient of '\(name)' has shape \(grads[i].value.shape), parameter \(p.shape)")
            if this.isFrozen(name) { return }
            this.step(name, &p, grads[i].value)
        }
        self = this
    }

    /// Whether `name` is frozen (listed itself, or under a listed prefix).
    public func isFrozen(_ name: String) -> Bool {
        if frozen.isEmpty { return false }
        if frozen.contains(name) { return true }
        return frozen.contains { name.hasPrefix($0 + ".") }
    }

    /// The optimiser state (moments, step count, learning rate) as safetensors bytes.
    public func encodedState() throws -> Data {
        try SafeTensors.encode(state.keys.sorted().map { ($0, state[$0]!) },
                               metadata: ["step": String(stepCount), "learning_rate": String(learningRate)])
    }

    /// Saves the optimiser state (see `encodedState()`) as a safetensors file.
    public func saveState(to path: String) throws {
        try FileIO.writeAtomically(encodedState(), to: path)
    }

    /// Restores state saved by `saveState(to:)` for `model`, so that training resumes exactly.
    /// Everything is checked before anything is adopted: the step and learning-rate metadata, and
    /// every tensor's name (`slot/parameter`, a slot of this optimiser and a parameter of `model`),
    /// shape and dtype against the parameter. A mismatch throws an error naming the file and tensor.
    public mutating func loadState<M: ParameterTree>(from file: SafeTensors.File, path: String = "<memory>", for model: M) throws {
        guard let s = file.metadata["step"].flatMap(Int.init), s >= 0 else {
            throw FluxionError(.malformed, file: path, "optimiser state needs a non-negative integer 'step' in its metadata (got \(file.metadata["step"] ?? "none"))")
        }
        guard let lr = file.metadata["learning_rate"].flatMap(Double.init), lr.isFinite, lr >= 0 else {
            throw FluxionError(.malformed, file: path, "optimiser state needs a finite 'learning_rate' in its metadata (got \(file.metadata["learning_rate"] ?? "none"))")
        }
        var parameters: [String: Tensor] = [:]
        for (name, value) in model.namedParameters { parameters[name] = value }
        for name in file.names {
            guard let t = file.tensors[name] else { continue }
            guard let slash = name.firstIndex(of: "/") else {
                throw FluxionError(.unexpectedTensor, file: path, tensor: name, "not an optimiser slot (expected slot/parameter)")
            }
            let slot = String(name[..<slash]), parameter = String(name[name.index(after: slash)...])
            guard Self.slotNames.contains(slot) else {
                throw FluxionError(.unexpectedTensor, file: path, tensor: name,
                                   "unknown slot '\(slot)' for \(Self.self) (its slots: \(Self.slotNames.sorted().joined(separator: ", ")))")
            }
            guard let p = parameters[parameter] else {
                throw FluxionError(.unexpectedTensor, file: path, tensor: name, "the model has no parameter '\(parameter)'")
            }
            guard t.shape == p.shape else {
                throw FluxionError(.shapeMismatch, file: path, tensor: name, "file has shape \(t.shape), parameter '\(parameter)' has \(p.shape)")
            }
            guard t.dtype == p.dtype else {
                throw FluxionError(.dtypeMismatch, file: path, tensor: name, "file has dtype \(t.dtype), parameter '\(parameter)' has \(p.dtype)")
            }
        }
        stepCount = s
        learningRate = lr
        state = file.tensors
    }

    /// Restores the state in the safetensors file at `path` (see `loadState(from:path:for:)`).
    public mutating func loadState<M: ParameterTree>(from path: String, for model: M) throws {
        try loadState(from: SafeTensors.read(path), path: path, for: model)
    }

    /// The state tensor for `slot/name`, created as zeros shaped like `like` on first use.
    mutating func slot(_ slot: String, _ name: String, like p: Tensor) -> Tensor {
        let key = slot + "/" + name
        // Taken out of the dictionary (the caller stores it back), so that updating it in place
        // does not copy the buffer (copy-on-write with two owners).
        if let t = state.removeValue(forKey: key) { return t }
        return Tensor.zeros(like: p)
    }
}

/// Runs `body` on typed mutable buffers of up to three tensors and a read-only gradient.
@inline(__always)
func withBuffers<T: TensorFloat>(_ type: T.Type, _ p: inout Tensor, _ g: Tensor, _ a: inout Tensor, _ b: inout Tensor,
                                 _ body: (UnsafeMutablePointer<T>, UnsafePointer<T>, UnsafeMutablePointer<T>, UnsafeMutablePointer<T>, Int) -> Void) {
    let n = p.count
    g.withUnsafeBufferPointer(as: T.self) { pg in
        p.withUnsafeMutableBufferPointer(as: T.self) { pp in
            a.withUnsafeMutableBufferPointer(as: T.self) { pa in
                b.withUnsafeMutableBufferPointer(as: T.self) { pb in
                    body(pp.baseAddress!, pg.baseAddress!, pa.baseAddress!, pb.baseAddress!, n)
                }
            }
        }
    }
}

func checkFloat(_ p: Tensor, _ g: Tensor, _ name: String) {
    precondition(p.dtype.isFloatingPoint && g.dtype == p.dtype, "optimiser: parameter '\(name)' (\(p.dtype)) and gradient (\(g.dtype)) must share a float dtype")
}
