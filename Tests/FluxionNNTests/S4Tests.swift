import XCTest
import Foundation
@testable import FluxionNN
import FluxionOptim
import _FluxionTestSupport

/// S4 (DPLR) in Float64: the generating-function kernel against the direct C̄ Āᵏ B̄ of the LegS
/// system it was made from, the recurrent step against the convolution, finite differences.
final class S4Tests: XCTestCase {
    /// At initialisation each channel is the LegS system (A, B) in the eigenbasis V of its NPLR
    /// form, so a real output row c in the original basis is C = cV there, and C̃ = c(I − Ā^L)V.
    /// The kernel by Cauchy + Woodbury + irfft must equal K_k = c Āᵏ B̄ with the dense bilinear Ā, B̄.
    func testKernelByGeneratingFunctionEqualsDirectPowers() {
        let (h, n, l) = (2, 64, 1024), half = n / 2
        var rng = SeededGenerator(seed: 4)
        var layer = S4Layer(modelSize: h, stateSize: n, kernelLength: l, dtype: .float64, using: &rng)
        let steps = [0.01, 0.1]
        layer.logDt = Tensor(steps.map { Foundation.log($0) }, dtype: .float64)
        let nplr = HiPPO.nplr(size: n)
        let (a, b) = HiPPO.transition(.legS, size: n)
        var cTilde = [Double](), direct = [[Double]]()
        for ch in 0..<h {
            let c = (0..<n).map { _ in rng.nextNormal() }
            let discrete = HiPPO.discretize(A: a, B: b, step: steps[ch], method: .bilinear)
            let abar = discrete.A.scalars
            var x = discrete.B.scalars, row = c, k = [Double]()
            for _ in 0..<l {
                k.append(zip(c, x).reduce(0) { $0 + $1.0 * $1.1 })
                x = (0..<n).map { i in (0..<n).reduce(0) { $0 + abar[i * n + $1] * x[$1] } }
                row = (0..<n).map { j in (0..<n).reduce(0) { $0 + row[$1] * abar[$1 * n + j] } }
            }
            direct.append(k)
            let ct = zip(c, row).map { $0 - $1 }                         // c(I − Ā^L)
            for m in 0..<half {
                cTilde.append((0..<n).reduce(0) { $0 + ct[$1] * nplr.vReal[$1 * half + m] })
                cTilde.append((0..<n).reduce(0) { $0 + ct[$1] * nplr.vImaginary[$1 * half + m] })
            }
        }
        layer.C = Tensor(cTilde, shape: [1, h, half, 2], dtype: .float64)
        let kernel = layer.kernel(length: l).scalars
        for ch in 0..<h {
            let got = Array(kernel[(ch * l)..<((ch + 1) * l)])
            let scale = direct[ch].map(Swift.abs).max()!
            let error = zip(got, direct[ch]).map { Swift.abs($0 - $1) }.max()! / scale
            XCTAssertLessThan(error, 1e-6, "channel \(ch), Δ = \(steps[ch]): relative error \(error)")
        }
        // A shorter input takes the first entries of the same kernel.
        assertClose(layer.kernel(length: 100), Tensor(kernel, shape: [h, l], dtype: .float64).sliced(axis: 1, 0..<100),
                    relativeTolerance: 1e-14, absoluteTolerance: 1e-14, "kernel cut to 100")
    }

    /// A layer with perturbed (trained-like) B, P, Λ and random C̃: token-by-token steps equal the
    /// convolution.
    func testStepsEqualTheConvolution() {
        var rng = SeededGenerator(seed: 2)
        var layer = S4Layer(modelSize: 3, stateSize: 8, kernelLength: 32, dtype: .float64, using: &rng)
        layer.logDt = Tensor([-0.5, -1.5, -3.0], dtype: .float64)
        layer.B = layer.B + Tensor.randomNormal(shape: layer.B.shape, standardDeviation: 0.2, dtype: .float64, using: &rng)
        layer.P = layer.P + Tensor.randomNormal(shape: layer.P.shape, standardDeviation: 0.2, dtype: .float64, using: &rng)
        layer.invAReal = layer.invAReal + Tensor.randomNormal(shape: layer.invAReal.shape, standardDeviation: 0.3, dtype: .float64, using: &rng)
        layer.AImag = layer.AImag + Tensor.randomNormal(shape: layer.AImag.shape, standardDeviation: 0.3, dtype: .float64, using: &rng)
        let u = Tensor.randomNormal(shape: [2, 20, 3], dtype: .float64, using: &rng)
        let full = layer(u)
        var state = layer.initialState(batch: 2)
        for t in 0..<20 {
            let (y, next) = layer.step(u.sliced(axis: 1, t..<(t + 1)).squeezed(axis: 1), state: state)
            assertClose(y, full.sliced(axis: 1, t..<(t + 1)).squeezed(axis: 1), relativeTolerance: 1e-10, absoluteTolerance: 1e-10, "step \(t)")
            state = next
        }
    }

    func testInitialisationAndNames() {
        var rng = SeededGenerator(seed: 1)
        let layer = S4Layer(modelSize: 3, stateSize: 8, kernelLength: 16, using: &rng)
        XCTAssertEqual(layer.namedParameters.map(\.name), ["D", "kernel.C", "kernel.log_dt", "kernel.B", "kernel.P", "kernel.inv_A_real",
                                                           "kernel.A_imag", "output_linear.0.weight", "output_linear.0.bias"])
        XCTAssertEqual(layer.namedParameters.map(\.value.shape), [[1, 3], [1, 3, 4, 2], [3], [3, 4, 2], [1, 3, 4, 2], [3, 4], [3, 4], [6, 3, 1], [6]])
        let nplr = HiPPO.nplr(size: 8)
        for (k, a) in layer.AImag.scalars.enumerated() { XCTAssertEqual(a, nplr.lambdaImaginary[k % 4], accuracy: 1e-5, "A_imag = Im Λ of LegS") }
        XCTAssertTrue(layer.invAReal.scalars.allSatisfy { Swift.abs($0 - Foundation.log(0.5)) < 1e-6 }, "Re Λ = −½")
        XCTAssertTrue(layer.logDt.scalars.allSatisfy { $0 >= Foundation.log(1e-3) - 1e-6 && $0 <= Foundation.log(1e-1) + 1e-6 })
    }

    func testFloat64GradientCheck() {
        var rng = SeededGenerator(seed: 3)
        let layer = S4Layer(modelSize: 2, stateSize: 4, kernelLength: 8, dtype: .float64, using: &rng)
        let u = Tensor.randomNormal(shape: [1, 6, 2], dtype: .float64, using: &rng)
        let failures = GradientCheck.check({ xs in
            var l = layer
            (l.C, l.logDt, l.B, l.P, l.invAReal, l.AImag, l.D) = (xs[1], xs[2], xs[3], xs[4], xs[5], xs[6], xs[7])
            return l(xs[0]).squared().sum()
        }, at: [u, layer.C, layer.logDt, layer.B, layer.P, layer.invAReal, layer.AImag, layer.D], label: "S4Layer")
        XCTAssertEqual(failures, [])
    }

    /// The layer trains (Float32, Adam 1e-2, 150 steps): a half-amplitude copy of the input delayed
    /// by 5 steps, L = 64 (measured MSE 0.255 → 0.156).
    func testLearnsADelayedCopy() {
        var rng = SeededGenerator(seed: 6)
        var layer = S4Layer(modelSize: 4, stateSize: 16, kernelLength: 64, using: &rng)
        let x = Tensor.randomNormal(shape: [16, 64, 4], using: &rng)
        let target = Tensor.concatenate([Tensor.zeros(shape: [16, 5, 4]), x.sliced(axis: 1, 0..<59)], axis: 1) * 0.5
        var optimizer = Adam(learningRate: 1e-2)
        var losses: [Double] = []
        for _ in 0..<150 {
            let (loss, gradients) = valueWithGradient(at: layer) { meanSquaredError($0(x), target) }
            losses.append(loss.item)
            optimizer.update(&layer, along: gradients)
        }
        XCTAssertLessThan(losses.last!, 0.7 * losses[0], "MSE \(losses[0]) → \(losses.last!)")
    }
}
