import XCTest
import FluxionCore
import _FluxionTestSupport

/// The real FFT (FluxionKernels/FFT.swift, Tensor+FFT.swift) against the DFT's definition, its
/// inverse, and Float64 finite differences of both transforms at first and second order.
final class FFTTests: XCTestCase {
    /// X_k = Σ_j x_j e^{−2πi jk/n}, k = 0 … n/2, by the definition (Double).
    func naiveRFFT(_ x: [Double]) -> (re: [Double], im: [Double]) {
        let n = x.count
        var re = [Double](repeating: 0, count: n / 2 + 1), im = re
        for k in 0...(n / 2) {
            for j in 0..<n {
                let a = -2 * Double.pi * Double(j * k % n) / Double(n)
                re[k] += x[j] * Foundation.cos(a); im[k] += x[j] * Foundation.sin(a)
            }
        }
        return (re, im)
    }

    func testMatchesTheDefinition() {
        for n in [1, 2, 4, 8, 16, 64, 256, 1024] {
            for (dtype, tol) in [(DType.float64, 1e-12), (.float32, 2e-5)] {
                let x = Tensor.testInput([3, n], seed: UInt64(n))
                let f = x.cast(to: dtype).rfft()
                XCTAssertEqual(f.shape, [3, n / 2 + 1])
                XCTAssertEqual(f.real.dtype, dtype)
                let values = x.scalars
                for row in 0..<3 {
                    let (re, im) = naiveRFFT(Array(values[(row * n)..<((row + 1) * n)]))
                    let scale = Swift.max(1, re.map(Swift.abs).max()!, im.map(Swift.abs).max()!)
                    for k in 0...(n / 2) {
                        XCTAssertEqual(f.real.scalar(at: [row, k]), re[k], accuracy: tol * scale * Double(n).squareRoot(), "n \(n) \(dtype) re[\(k)]")
                        XCTAssertEqual(f.imaginary.scalar(at: [row, k]), im[k], accuracy: tol * scale * Double(n).squareRoot(), "n \(n) \(dtype) im[\(k)]")
                    }
                }
                let back = Tensor.irfft(f, count: n)
                XCTAssertEqual(back.shape, [3, n])
                for (a, b) in zip(back.scalars, x.cast(to: dtype).scalars) { XCTAssertEqual(a, b, accuracy: tol * 10, "n \(n) \(dtype) round trip") }
            }
        }
    }

    func testInverseIgnoresTheImaginaryPartsOfTheEndBins() {
        let n = 8
        let re = Tensor.testInput([n / 2 + 1], seed: 1), im = Tensor.testInput([n / 2 + 1], seed: 2)
        var im2 = im.scalars
        im2[0] += 5; im2[n / 2] -= 3
        let a = Tensor.irfft(ComplexTensor(real: re, imaginary: im), count: n)
        let b = Tensor.irfft(ComplexTensor(real: re, imaginary: Tensor(im2, dtype: .float64)), count: n)
        for (x, y) in zip(a.scalars, b.scalars) { XCTAssertEqual(x, y, accuracy: 1e-14) }
    }

    func testGradientChecks() {
        for n in [1, 2, 8, 32] {
            let x = Tensor.testInput([2, n], seed: 3)
            let u = Tensor.testInput([2, n / 2 + 1], seed: 4), v = Tensor.testInput([2, n / 2 + 1], seed: 5)
            let failures = GradientCheck.check({ xs in
                let f = xs[0].rfft()
                return (f.real * u + f.imaginary * v * f.real).sum()   // nonlinear, so order 2 is not trivial
            }, at: [x], label: "rfft n=\(n)")
            XCTAssertEqual(failures, [])
            let spectrum = [Tensor.testInput([2, n / 2 + 1], seed: 6), Tensor.testInput([2, n / 2 + 1], seed: 7)]
            let w = Tensor.testInput([2, n], seed: 8)
            let inverse = GradientCheck.check({ xs in
                let y = Tensor.irfft(ComplexTensor(real: xs[0], imaginary: xs[1]), count: n)
                return (y * w * y).sum()
            }, at: spectrum, label: "irfft n=\(n)")
            XCTAssertEqual(inverse, [])
        }
    }
}

import Foundation

final class CausalConvolutionTests: XCTestCase {
    func testMatchesTheDirectSum() {
        for (b, l, h) in [(2, 1, 3), (2, 5, 3), (1, 16, 2), (3, 33, 4)] {
            let u = Tensor.testInput([b, l, h], seed: 1), k = Tensor.testInput([h, l], seed: 2)
            let y = Tensor.causalConvolution(u, kernel: k)
            XCTAssertEqual(y.shape, [b, l, h])
            for bi in 0..<b { for t in 0..<l { for c in 0..<h {
                var sum = 0.0
                for s in 0...t { sum += k.scalar(at: [c, s]) * u.scalar(at: [bi, t - s, c]) }
                XCTAssertEqual(y.scalar(at: [bi, t, c]), sum, accuracy: 1e-12, "B \(b) L \(l) H \(h) at [\(bi), \(t), \(c)]")
            } } }
        }
    }

    func testGradientCheck() {
        let u = Tensor.testInput([2, 6, 3], seed: 3), k = Tensor.testInput([3, 6], seed: 4)
        let w = Tensor.testInput([2, 6, 3], seed: 5)
        XCTAssertEqual(GradientCheck.check({ xs in (Tensor.causalConvolution(xs[0], kernel: xs[1]).squared() * w).sum() },
                                           at: [u, k], label: "causalConvolution"), [])
    }
}

final class DepthwiseCausalConvolutionTests: XCTestCase {
    func testMatchesTheDirectSumAndDifferentiates() {
        for (b, l, d, k) in [(2, 7, 3, 4), (1, 3, 2, 4), (2, 5, 4, 1)] {
            let x = Tensor.testInput([b, l, d], seed: 1), w = Tensor.testInput([d, 1, k], seed: 2), bias = Tensor.testInput([d], seed: 3)
            let y = Tensor.depthwiseCausalConv1d(x, weight: w, bias: bias)
            XCTAssertEqual(y.shape, [b, l, d])
            for bi in 0..<b { for t in 0..<l { for c in 0..<d {
                var sum = bias.scalar(at: [c])
                for j in 0..<k where t - (k - 1) + j >= 0 { sum += w.scalar(at: [c, 0, j]) * x.scalar(at: [bi, t - (k - 1) + j, c]) }
                XCTAssertEqual(y.scalar(at: [bi, t, c]), sum, accuracy: 1e-12)
            } } }
            let u = Tensor.testInput([b, l, d], seed: 4)
            XCTAssertEqual(GradientCheck.check({ xs in (Tensor.depthwiseCausalConv1d(xs[0], weight: xs[1], bias: xs[2]).squared() * u).sum() },
                                               at: [x, w, bias], label: "depthwiseCausalConv1d K=\(k)"), [])
        }
    }
}
