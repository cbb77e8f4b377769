import XCTest
import FluxionNN
import _FluxionTestSupport

/// nn.RNN / nn.LSTM / nn.GRU (2 layers, bidirectional) and the cells against PyTorch: a state dict
/// loads unchanged; outputs, final states and all gradients match.
final class RecurrentParityTests: XCTestCase {
    func check(_ name: String, _ kind: RecurrentKind) throws {
        let f = try Fixture.load("recurrent_" + name)
        var rng = SeededGenerator(seed: 0)
        var net = Recurrent(kind, inputSize: 5, hiddenSize: 6, layerCount: 2, bidirectional: true, using: &rng)
        try net.load(from: f.entries(withPrefix: "param."))
        let x = f.tensor("input"), h0 = f.tensor("h0")
        let c0 = kind == .lstm ? f.tensor("c0") : nil
        let r = net.run(x, hidden: h0, cell: c0)
        assertClose(r.outputs, f.tensor("output"), "\(name) output")
        assertClose(r.hidden, f.tensor("hn"), "\(name) final hidden")
        if kind == .lstm { assertClose(r.cell!, f.tensor("cn"), "\(name) final cell") }
        let u = f.tensor("cot.output"), uh = f.tensor("cot.hn")
        let uc = kind == .lstm ? f.tensor("cot.cn") : nil
        let states = [h0] + (c0.map { [$0] } ?? [])
        let (gNet, gInputs) = gradient(at: net, [x] + states) { net, xs in
            let r = net.run(xs[0], hidden: xs[1], cell: xs.count > 2 ? xs[2] : nil)
            var loss = (r.outputs * u).sum() + (r.hidden * uh).sum()
            if let uc, let c = r.cell { loss = loss + (c * uc).sum() }
            return loss
        }
        assertClose(gInputs[0], f.tensor("grad.input"), relativeTolerance: 1e-4, absoluteTolerance: 1e-5, "\(name) input gradient")
        assertClose(gInputs[1], f.tensor("grad.h0"), relativeTolerance: 1e-4, absoluteTolerance: 1e-5, "\(name) h0 gradient")
        if kind == .lstm { assertClose(gInputs[2], f.tensor("grad.c0"), relativeTolerance: 1e-4, absoluteTolerance: 1e-5, "c0 gradient") }
        XCTAssertEqual(gNet.namedParameters.count, 16)
        for (pname, g) in gNet.namedParameters {
            assertClose(g, f.tensor("grad.param." + pname), relativeTolerance: 1e-4, absoluteTolerance: 1e-5, "\(name) gradient of \(pname)")
        }
    }

    func testRNN() throws { try check("rnn", .rnnTanh) }
    func testLSTM() throws { try check("lstm", .lstm) }
    func testGRU() throws { try check("gru", .gru) }

    func testCells() throws {
        var rng = SeededGenerator(seed: 0)
        let fl = try Fixture.load("lstmcell")
        var lstm = LSTMCell(inputSize: 5, hiddenSize: 6, using: &rng)
        try lstm.load(from: fl.entries(withPrefix: "param."))
        let s = lstm.step(fl.tensor("input"), (fl.tensor("h"), fl.tensor("c"))).state
        assertClose(s.h, fl.tensor("hn"), "LSTMCell h")
        assertClose(s.c, fl.tensor("cn"), "LSTMCell c")
        let fg = try Fixture.load("grucell")
        var gru = GRUCell(inputSize: 5, hiddenSize: 6, using: &rng)
        try gru.load(from: fg.entries(withPrefix: "param."))
        assertClose(gru.step(fg.tensor("input"), fg.tensor("h")).state, fg.tensor("hn"), "GRUCell")
        let fr = try Fixture.load("rnncell")
        var rnn = RNNCell(inputSize: 5, hiddenSize: 6, using: &rng)
        try rnn.load(from: fr.entries(withPrefix: "param."))
        assertClose(rnn.step(fr.tensor("input"), fr.tensor("h")).state, fr.tensor("hn"), "RNNCell")
    }

    func testUnrollWithACellMatchesTheLayer() {
        var rng = SeededGenerator(seed: 1)
        let cell = LSTMCell(inputSize: 3, hiddenSize: 4, using: &rng)
        var layer = Recurrent(.lstm, inputSize: 3, hiddenSize: 4, using: &rng)
        layer.weights[0].weightIH = cell.weights.weightIH
        layer.weights[0].weightHH = cell.weights.weightHH
        layer.weights[0].biasIH = cell.weights.biasIH
        layer.weights[0].biasHH = cell.weights.biasHH
        let x = Tensor.randomNormal(shape: [2, 5, 3], using: &rng)
        let zero = Tensor.zeros(shape: [2, 4])
        assertClose(unroll(cell, x, initialState: (zero, zero)).outputs, layer(x), "cell unrolled vs fused layer")
    }

    func testGradientChecks() {
        var rng = SeededGenerator(seed: 2)
        for kind in [RecurrentKind.rnnTanh, .lstm, .gru] {
            let net = Recurrent(kind, inputSize: 2, hiddenSize: 3, layerCount: 2, bidirectional: true, dtype: .float64, using: &rng)
            let x = Tensor.testInput([2, 3, 2], seed: 3)
            let params = net.namedParameters.map(\.value)
            let f: ([Tensor]) -> Tensor = { xs in
                var i = 1
                let n = net.mapParameters { _, _ in defer { i += 1 }; return xs[i] }
                return n(xs[0])
            }
            for failure in GradientCheck.check(f, at: [x] + params, label: "\(kind)") { XCTFail(failure) }
        }
    }
}
