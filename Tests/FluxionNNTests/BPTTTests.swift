import XCTest
import Foundation
import FluxionNN

/// SPEC §1: the tanh RNN's autodiff gradients equal the hand-derived BPTT (with the corrected
/// recursion δ(t) = Vᵀ(ŷ(t) − y(t)) + Wᵀ diag(1 − h(t+1)²) δ(t+1)).
final class BPTTTests: XCTestCase {
    func testAutodiffEqualsHandDerivedBPTT() {
        let (inSize, hidden, classes, steps) = (3, 4, 5, 6)
        var rng = SeededGenerator(seed: 8)
        var rnn = Recurrent(.rnnTanh, inputSize: inSize, hiddenSize: hidden, dtype: .float64, using: &rng)
        rnn.weights[0].biasHH = Tensor.zeros(shape: [hidden], dtype: .float64)  // b lives in bias_ih
        let head = Linear(inputSize: hidden, outputSize: classes, dtype: .float64, using: &rng)
        let x = Tensor.randomNormal(shape: [1, steps, inSize], dtype: .float64, using: &rng)
        let labels = (0..<steps).map { _ in Int32(rng.next() % UInt64(classes)) }
        let y = Tensor(labels, shape: [1, steps])

        // Autodiff: L = Σ_t cross-entropy(softmax(V h(t) + c), y(t)).
        let (gRNN, gHead) = gradient(at: rnn, head) { rnn, head in
            crossEntropy(logits: head(rnn(x)), labels: y, reduction: .sum)
        }

        // Hand-derived BPTT in plain Swift.
        func mat(_ t: Tensor) -> [[Double]] { let s = t.scalars, c = t.shape[1]; return (0..<t.shape[0]).map { Array(s[($0 * c)..<(($0 + 1) * c)]) } }
        let U = mat(rnn.weights[0].weightIH), W = mat(rnn.weights[0].weightHH), V = mat(head.weight)
        let b = rnn.weights[0].biasIH!.scalars, c = head.bias!.scalars
        let xs = (0..<steps).map { Array(x.scalars[($0 * inSize)..<(($0 + 1) * inSize)]) }
        func mv(_ m: [[Double]], _ v: [Double]) -> [Double] { m.map { zip($0, v).reduce(0) { $0 + $1.0 * $1.1 } } }
        func mtv(_ m: [[Double]], _ v: [Double]) -> [Double] { (0..<m[0].count).map { j in (0..<m.count).reduce(0) { $0 + m[$1][j] * v[$1] } } }
        var h: [[Double]] = [[Double](repeating: 0, count: hidden)]   // h(0) = 0
        var yHat: [[Double]] = []
        for t in 0..<steps {
            let z = zip(zip(mv(U, xs[t]), mv(W, h[t])), b).map { $0.0 + $0.1 + $1 }
            h.append(z.map { Foundation.tanh($0) })
            let o = zip(mv(V, h[t + 1]), c).map { $0 + $1 }
            let m = o.max()!
            let e = o.map { Foundation.exp($0 - m) }
            let s = e.reduce(0, +)
            yHat.append(e.map { $0 / s })
        }
        let err = (0..<steps).map { t in yHat[t].enumerated().map { $0.element - ($0.offset == Int(labels[t]) ? 1 : 0) } }
        var delta = [[Double]](repeating: [], count: steps)
        delta[steps - 1] = mtv(V, err[steps - 1])
        for t in stride(from: steps - 2, through: 0, by: -1) {
            let back = mtv(W, zip(h[t + 2], delta[t + 1]).map { (1 - $0 * $0) * $1 })
            delta[t] = zip(mtv(V, err[t]), back).map { $0 + $1 }
        }
        var dU = [[Double]](repeating: [Double](repeating: 0, count: inSize), count: hidden)
        var dW = [[Double]](repeating: [Double](repeating: 0, count: hidden), count: hidden)
        var dV = [[Double]](repeating: [Double](repeating: 0, count: hidden), count: classes)
        var db = [Double](repeating: 0, count: hidden), dc = [Double](repeating: 0, count: classes)
        for t in 0..<steps {
            let local = zip(h[t + 1], delta[t]).map { (1 - $0 * $0) * $1 }   // diag(1 − h(t)²) δ(t)
            for i in 0..<hidden {
                db[i] += local[i]
                for j in 0..<inSize { dU[i][j] += local[i] * xs[t][j] }
                for j in 0..<hidden { dW[i][j] += local[i] * h[t][j] }
            }
            for k in 0..<classes {
                dc[k] += err[t][k]
                for j in 0..<hidden { dV[k][j] += err[t][k] * h[t + 1][j] }
            }
        }
        func close(_ a: Tensor, _ e: [Double], _ name: String) {
            for (u, v) in zip(a.scalars, e) where Swift.abs(u - v) > 1e-10 { XCTFail("\(name): \(a.scalars) vs BPTT \(e)"); return }
        }
        close(gRNN.weights[0].weightIH, dU.flatMap { $0 }, "∂L/∂U")
        close(gRNN.weights[0].weightHH, dW.flatMap { $0 }, "∂L/∂W")
        close(gRNN.weights[0].biasIH!, db, "∂L/∂b")
        close(gHead.weight, dV.flatMap { $0 }, "∂L/∂V")
        close(gHead.bias!, dc, "∂L/∂c")
    }
}
