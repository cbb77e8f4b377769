import Fluxion

extension BenchWorkloads {
    /// GPT (WORKLOADS.md, `w_gpt`): vocabulary 65, width 128, 4 pre-LN blocks of 4 heads, MLP 4× with
    /// exact GELU, learned positions, sequence 128, batch 16, random tokens, next-token cross-entropy
    /// (mean), AdamW lr 3e-4 (weight decay 0.01). ≈ 11.4 GFLOP per step.
    static func gpt(seconds: Double) -> Double {
        var rng = SeededGenerator(seed: 0)
        let (vocab, steps, batch) = (65, 128, 16)
        var model = GPT(GPTConfiguration(vocabularySize: vocab, contextLength: steps, width: 128, layerCount: 4, headCount: 4), using: &rng)
        var optimizer = Adam(learningRate: 3e-4, weightDecay: 0.01, decoupledWeightDecay: true)
        let tokens = Tensor((0..<(batch * (steps + 1))).map { _ in Int32(rng.next() % UInt64(vocab)) }, shape: [batch, steps + 1])
        let inputs = tokens.sliced(axis: 1, 0..<steps), targets = tokens.sliced(axis: 1, 1..<(steps + 1))
        return timed(seconds) {
            let g = gradient(at: model) { m in crossEntropy(logits: m(inputs), labels: targets) }
            optimizer.update(&model, along: g)
        }
    }
}
