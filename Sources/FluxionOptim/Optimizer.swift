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

    /// Saves the optimiser state (moments, step count, learning rate) as safetensors.
    public func saveState(to path: String) throws {
        let names = state.keys.sorted()
        try SafeTensors.write(names.map { ($0, state[$0]!) },
                              metadata: ["step": String(stepCount), "learning_rate": String(learningRate)], to: path)
    }

    /// Restores state saved by `saveState(to:)`, so that training resumes exactly.
    public mutating func loadState(from path: String) throws {
        let file = try SafeTensors.read(path)
        guard let s = file.metadata["step"].flatMap(Int.init), let lr = file.metadata["learning_rate"].flatMap(Double.init) else {
            throw FluxionError(.malformed, file: path, "optimiser state needs 'step' and 'learning_rate' metadata")
        }
        stepCount = s
        learningRate = lr
        state = file.tensors
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
