import Fluxion
import Foundation

// The state-space benchmark workloads (`fluxion bench selective-scan`); the PyTorch twins are in
// Tools/bench_ssm_torch.py, documented in BENCHMARKS.md.
extension BenchWorkloads {
    /// Mamba's selective scan alone: B 4, L 1024, D 256, N 16, with z, D, delta bias and softplus;
    /// forward and backward of ⟨y, r⟩ with gradients for every input (`Tensor.selectiveScan`).
    /// ≈ 4·1024·256·16 states × (forward, recomputation, reverse) per step.
    static func selectiveScan(seconds: Double) -> Double {
        var rng = SeededGenerator(seed: 0)
        let (b, l, d, n) = (4, 1024, 256, 16)
        let u = Tensor.randomNormal(shape: [b, l, d], using: &rng)
        let delta = Tensor.randomNormal(shape: [b, l, d], standardDeviation: 0.5, using: &rng)
        let z = Tensor.randomNormal(shape: [b, l, d], using: &rng)
        let a = -Tensor.randomUniform(shape: [d, n], low: 0.5, high: 2, using: &rng)
        let bm = Tensor.randomNormal(shape: [b, l, n], using: &rng), cm = Tensor.randomNormal(shape: [b, l, n], using: &rng)
        let dv = Tensor.randomNormal(shape: [d], using: &rng), bias = Tensor.randomNormal(shape: [d], standardDeviation: 0.3, using: &rng)
        let r = Tensor.randomNormal(shape: [b, l, d], using: &rng)
        return timed(seconds) {
            _ = gradient(at: [u, delta, a, bm, cm, dv, z, bias]) { x in
                let (y, _) = Tensor.selectiveScan(x[0], delta: x[1], A: x[2], B: x[3], C: x[4], D: x[5], z: x[6],
                                                  deltaBias: x[7], softplus: true)
                return (y * r).sum()
            }
        }
    }

    /// Mamba LM (WORKLOADS.md, `w_mamba`): vocabulary 65, d_model 128, 4 residual Mamba blocks
    /// (d_inner 256, N 16, K 4, dt_rank 8), final RMSNorm, untied head without padding; sequence
    /// 128, batch 16, random tokens, next-token cross-entropy (mean), AdamW lr 3e-4, weight decay
    /// 0.01 on every parameter. ≈ 6.3 GFLOP per step.
    static func mamba(seconds: Double) -> Double {
        var rng = SeededGenerator(seed: 0)
        let (vocab, steps, batch) = (65, 128, 16)
        var model = MambaLM(vocabularySize: vocab, modelSize: 128, layerCount: 4, tiedHead: false, vocabularyMultiple: 1, using: &rng)
        var optimizer = Adam(learningRate: 3e-4, weightDecay: 0.01, decoupledWeightDecay: true)
        let tokens = Tensor((0..<(batch * (steps + 1))).map { _ in Int32(rng.next() % UInt64(vocab)) }, shape: [batch, steps + 1])
        let inputs = tokens.sliced(axis: 1, 0..<steps), targets = tokens.sliced(axis: 1, 1..<(steps + 1))
        return timed(seconds) {
            let g = gradient(at: model) { m in crossEntropy(logits: m(inputs), labels: targets) }
            optimizer.update(&model, along: g)
        }
    }

    /// Generation with the bench's Mamba LM (untrained, batch 1): tokens per second of one cached
    /// step at position `position` (the caches hold a prefill of `position` random tokens; every
    /// timed step starts from them, so each is the step at exactly that position). The cost of a
    /// step does not depend on the position: `mamba-generate-8000` ≈ `mamba-generate-100`.
    static func mambaGeneration(position: Int, seconds: Double) -> Double {
        var rng = SeededGenerator(seed: 0)
        let vocab = 65
        let model = MambaLM(vocabularySize: vocab, modelSize: 128, layerCount: 4, tiedHead: false, vocabularyMultiple: 1, using: &rng)
        let prompt = Tensor((0..<position).map { _ in Int32(rng.next() % UInt64(vocab)) }, shape: [1, position])
        var prefilled: [MambaCache]? = model.emptyCache(batch: 1)
        let logits = withoutDerivatives { model(prompt, caches: &prefilled) }
        let next = logits[0][position - 1].argmax(axis: 0).reshaped(to: [1])
        let start = prefilled!
        return timed(seconds) {
            var caches = start
            _ = withoutDerivatives { model.step(next, caches: &caches) }
        }
    }

    /// state-spaces models/s4 example.py's S4Model on sCIFAR-shaped data: encoder Linear(3, 128),
    /// 4 × (S4D layer, d_model 128, N 64; residual; post-LayerNorm), mean over the 1,024 steps,
    /// decoder Linear(128, 10), cross-entropy; batch 16 of N(0, 1) inputs with fixed random labels;
    /// AdamW lr 0.01, weight decay 0.01, the SSM parameters (log_dt, log_A_real, A_imag) at lr 1e-3
    /// without decay (example.py's `setup_optimizer`). The per-step head averaged over time equals
    /// the decoder on the time average (both are affine). PyTorch twin: Tools/bench_ssm_torch.py.
    static func s4d(seconds: Double) -> Double {
        var rng = SeededGenerator(seed: 0)
        let (batch, length, classes) = (16, 1024, 10)
        var model = S4DSequenceModel(vocabularySize: nil, featureCount: 3, width: 128, layerCount: 4, stateSize: 64,
                                     outputSize: classes, using: &rng)
        var optimizer = Adam(learningRate: 0.01, weightDecay: 0.01, decoupledWeightDecay: true)
        optimizer.groups = [Adam.Group(names: model.stateSpaceParameterNames, learningRate: 1e-3, weightDecay: 0)]
        let x = Tensor.randomNormal(shape: [batch, length, 3], using: &rng)
        let labels = Tensor((0..<batch).map { _ in Int32(rng.next() % UInt64(classes)) }, shape: [batch])
        return timed(seconds) {
            let g = gradient(at: model) { m in crossEntropy(logits: m(x).mean(axes: [1]), labels: labels) }
            optimizer.update(&model, along: g)
        }
    }
}
