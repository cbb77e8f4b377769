import ArgumentParser
import Fluxion
import Foundation

/// `fluxion demo`: an end-to-end run of the core — fits a small MLP to sin(3x) by gradient descent
/// with reverse-mode gradients, and checks a Hessian-vector product against finite differences.
struct Demo: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Fit a tiny MLP with autodiff and print the loss falling.")

    @Option(help: "Training steps.") var steps = 2000
    @Option(help: "Random seed.") var seed: UInt64 = 0

    func run() throws {
        var rng = SeededGenerator(seed: seed)
        let x = Tensor.linspace(-1, 1, count: 256).reshaped(to: [256, 1])
        let target = (x * 3).sin()
        func layer(_ i: Int, _ o: Int) -> [Tensor] {
            let bound = 1 / Double(i).squareRoot()
            return [Tensor.randomUniform(shape: [i, o], low: -bound, high: bound, using: &rng),
                    Tensor.randomUniform(shape: [o], low: -bound, high: bound, using: &rng)]
        }
        var params = layer(1, 64) + layer(64, 64) + layer(64, 1)
        func predict(_ p: [Tensor], _ x: Tensor) -> Tensor {
            let h1 = (x.matmul(p[0]) + p[1]).tanh()
            let h2 = (h1.matmul(p[2]) + p[3]).tanh()
            return h2.matmul(p[4]) + p[5]
        }
        // Adam, written out: the optimiser module comes with the layers issue.
        var m = params.map { Tensor.zeros(like: $0) }, v = m
        let (b1, b2, lr) = (0.9, 0.999, 1e-2)
        let start = Date()
        print("fitting y = sin(3x) on [-1, 1] with a 1-64-64-1 tanh MLP (Adam, lr \(lr))")
        for step in 1...steps {
            let (loss, g) = valueWithGradient(at: params) { p in (predict(p, x) - target).squared().mean() }
            for i in params.indices {
                m[i] = m[i] * b1 + g[i] * (1 - b1)
                v[i] = v[i] * b2 + g[i] * g[i] * (1 - b2)
                let mh = m[i] / (1 - Foundation.pow(b1, Double(step))), vh = v[i] / (1 - Foundation.pow(b2, Double(step)))
                params[i] = params[i] - lr * mh / (vh.sqrt() + 1e-8)
            }
            if step == 1 || step % (steps / 10) == 0 {
                print(String(format: "step %5d  loss %.6f", step, loss.item))
            }
        }
        let elapsed = Date().timeIntervalSince(start)
        print(String(format: "%d steps in %.2f s (%.0f steps/s)", steps, elapsed, Double(steps) / elapsed))

        // Forward-over-reverse: Hessian-vector product of f(x, y) = x²y + y³ at (1, 2) along (1, 0).
        let point = Tensor([1.0, 2.0]), direction = Tensor([1.0, 0.0])
        let hv = jvp(at: point, along: direction) { p in
            gradient(at: p) { q in q[0] * q[0] * q[1] + q[1].pow(3) }
        }.differential
        print("Hessian-vector product of x²y + y³ at (1, 2) along (1, 0): \(hv.scalars) (exact [4.0, 2.0])")
    }
}
