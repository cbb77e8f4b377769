import XCTest
import Foundation
@testable import FluxionGenerative
import FluxionNN

/// log|det A| of a dense n×n matrix (row-major) by Gaussian elimination with partial pivoting.
func logAbsDeterminant(_ a: [Double], _ n: Int) -> Double {
    var m = a
    var total = 0.0
    for k in 0..<n {
        var p = k
        for i in k..<n where abs(m[i * n + k]) > abs(m[p * n + k]) { p = i }
        if p != k { for j in 0..<n { m.swapAt(k * n + j, p * n + j) } }
        let d = m[k * n + k]
        total += log(abs(d))
        for i in (k + 1)..<max(n, k + 1) {
            let f = m[i * n + k] / d
            for j in k..<n { m[i * n + j] -= f * m[k * n + j] }
        }
    }
    return total
}

/// Moves every parameter off its initialisation (zero-initialised nets would make couplings the
/// identity and the tests trivial).
func perturbed<P: ParameterTree>(_ p: P, scale: Double = 0.3, seed: UInt64 = 7) -> P {
    var rng = SeededGenerator(seed: seed)
    return p.mapParameters { _, t in t + Tensor.randomNormal(shape: t.shape, standardDeviation: scale, dtype: t.dtype, using: &rng) }
}

func perturbedLayer(_ layer: any FlowLayer) -> any FlowLayer { perturbed(layer) }

final class FlowLayerTests: XCTestCase {
    /// The layers under test, in Float64, with a per-sample input shape each.
    func layers() -> [(String, any FlowLayer, [Int])] { Self.layers() }
    func input(_ shape: [Int], count: Int = 3, seed: UInt64 = 11, unit: Bool = false) -> Tensor {
        Self.input(shape, count: count, seed: seed, unit: unit)
    }

    static func layers() -> [(String, any FlowLayer, [Int])] {
        var rng = SeededGenerator(seed: 3)
        var out: [(String, any FlowLayer, [Int])] = []
        out.append(("additive coupling (paper)", AdditiveCoupling(dimension: 6, hiddenSize: 8, hiddenLayerCount: 2, dtype: .float64, using: &rng), [6]))
        out.append(("additive coupling (Su)", AdditiveCoupling(dimension: 4, hiddenSize: 8, hiddenLayerCount: 2, sign: -1, outputReLU: true, dtype: .float64, using: &rng), [4]))
        out.append(("reverse", Reverse(), [5]))
        out.append(("diagonal scaling", DiagonalScaling(dimension: 4, dtype: .float64), [4]))
        out.append(("affine coupling", AffineCoupling(mask: [1, 0, 1, 0], hiddenSize: 8, dtype: .float64, using: &rng), [4]))
        out.append(("affine coupling 2-D", AffineCoupling(mask: [0, 1], hiddenSize: 8, dtype: .float64, using: &rng), [2]))
        out.append(("logit", LogitTransform(alpha: 0.05), [5]))
        out.append(("actnorm (vector)", ActNorm(channelCount: 3, dtype: .float64), [3]))
        out.append(("actnorm (image)", ActNorm(channelCount: 2, dtype: .float64), [2, 2, 2]))
        out.append(("1x1 conv (vector)", InvertibleConv1x1(channelCount: 3, dtype: .float64, using: &rng), [3]))
        out.append(("1x1 conv (image)", InvertibleConv1x1(channelCount: 4, dtype: .float64, using: &rng), [4, 2, 2]))
        out.append(("squeeze", Squeeze(), [1, 4, 4]))
        out.append(("checkerboard coupling", ConvAffineCoupling(channelCount: 1, mask: .checkerboard(0), scale: .tanh, hiddenChannels: 4, dtype: .float64, using: &rng), [1, 4, 4]))
        out.append(("checkerboard coupling odd", ConvAffineCoupling(channelCount: 2, mask: .checkerboard(1), scale: .sigmoid, hiddenChannels: 4, dtype: .float64, using: &rng), [2, 2, 2]))
        out.append(("channel coupling", ConvAffineCoupling(channelCount: 4, mask: .channel(0), scale: .sigmoid, hiddenChannels: 4, dtype: .float64, using: &rng), [4, 2, 2]))
        out.append(("channel coupling odd", ConvAffineCoupling(channelCount: 4, mask: .channel(1), scale: .tanh, hiddenChannels: 4, dtype: .float64, using: &rng), [4, 2, 2]))
        return out.map { ($0.0, perturbedLayer($0.1), $0.2) }
    }

    static func input(_ shape: [Int], count: Int = 3, seed: UInt64 = 11, unit: Bool = false) -> Tensor {
        var rng = SeededGenerator(seed: seed)
        if unit { return Tensor.randomUniform(shape: [count] + shape, low: 0.05, high: 0.95, dtype: .float64, using: &rng) }
        return Tensor.randomNormal(shape: [count] + shape, dtype: .float64, using: &rng)
    }

    func testEveryLayerInvertsExactlyInFloat64() {
        for (name, layer, shape) in layers() {
            let x = input(shape, unit: name == "logit")
            let (y, _) = layer.forward(x)
            XCTAssertEqual(y.count, x.count, name)
            let back = layer.inverse(y)
            XCTAssertEqual(back.shape, x.shape, name)
            let error = zip(back.scalars, x.scalars).map { abs($0 - $1) }.max()!
            XCTAssertLessThan(error, 1e-10, "\(name): ‖f⁻¹(f(x)) − x‖∞ = \(error)")
        }
    }

    func testEveryLayersLogDeterminantEqualsTheDenseJacobian() {
        for (name, layer, shape) in layers() {
            let x = input(shape, count: 1, seed: 5, unit: name == "logit")
            let n = x.count
            let j = jacobian(of: { v in layer.forward(v.reshaped(to: [1] + shape)).output.flattened() }, at: x.flattened())
            XCTAssertEqual(j.shape, [n, n], name)
            let dense = logAbsDeterminant(j.scalars, n)
            let claimed = layer.forward(x).logDeterminant
            XCTAssertEqual(claimed.shape, [1], name)
            XCTAssertEqual(claimed.item, dense, accuracy: 1e-9, "\(name): log|det J| from autodiff \(dense), layer says \(claimed.item)")
        }
    }

    func testLogDeterminantIsPerSample() {
        for (name, layer, shape) in layers() {
            let x = input(shape, count: 4, unit: name == "logit")
            let batch = layer.forward(x).logDeterminant
            XCTAssertEqual(batch.shape, [4], name)
            for i in 0..<4 {
                XCTAssertEqual(batch.scalars[i], layer.forward(x[i..<(i + 1)]).logDeterminant.item, accuracy: 1e-12, "\(name) sample \(i)")
            }
        }
    }

    func testOneByOneConvolutionLUDeterminantEqualsTheDenseDeterminant() {
        var rng = SeededGenerator(seed: 21)
        for c in [2, 3, 5, 8] {
            var conv = InvertibleConv1x1(channelCount: c, dtype: .float64, using: &rng)
            // At initialisation W is a rotation: |det W| = 1.
            XCTAssertEqual(logAbsDeterminant(conv.weight.scalars, c), 0, accuracy: 1e-12, "c = \(c) rotation")
            conv = perturbed(conv, scale: 0.5, seed: UInt64(c))
            let w = conv.weight.scalars
            let dense = logAbsDeterminant(w, c)
            XCTAssertEqual(conv.logScale.sum().item, dense, accuracy: 1e-10, "c = \(c): Σ log|diag U| vs log|det W|")
            // The layer on an H×W image: H·W·log|det W|.
            let x = input([c, 3, 2], count: 2)
            XCTAssertEqual(conv.forward(x).logDeterminant.scalars[1], 6 * dense, accuracy: 1e-9)
            // W⁻¹ used by the inverse is the inverse.
            let product = conv.inverseWeight.matmul(conv.weight)
            let identityError = zip(product.scalars, Tensor.eye(c, dtype: .float64).scalars).map { abs($0 - $1) }.max()!
            XCTAssertLessThan(identityError, 1e-12)
        }
    }

    func testSqueezeAndUnsqueezeAreExactInverses() {
        var rng = SeededGenerator(seed: 1)
        let x = Tensor.randomNormal(shape: [2, 3, 4, 6], using: &rng)
        let squeeze = Squeeze()
        let y = squeeze.forward(x).output
        XCTAssertEqual(y.shape, [2, 12, 2, 3])
        XCTAssertEqual(squeeze.inverse(y).floats, x.floats)
        // Channel 4c + 2i + j of the squeezed image is pixel (2h + i, 2w + j) of channel c.
        for (c, i, j, h, w) in [(0, 0, 0, 0, 0), (1, 1, 0, 1, 2), (2, 1, 1, 0, 1), (2, 0, 1, 1, 0)] {
            XCTAssertEqual(y.scalar(at: [1, 4 * c + 2 * i + j, h, w]), x.scalar(at: [1, c, 2 * h + i, 2 * w + j]))
        }
        let z = Tensor.randomNormal(shape: [2, 8, 3, 2], using: &rng)
        XCTAssertEqual(squeeze.forward(squeeze.inverse(z)).output.floats, z.floats)
    }

    func testActNormInitialisationGivesZeroMeanUnitVariancePerChannel() {
        var rng = SeededGenerator(seed: 4)
        let scales = Tensor([0.5, 3, 10], shape: [1, 3, 1, 1], dtype: .float64)
        let shifts = Tensor([-2, 0.5, 7], shape: [1, 3, 1, 1], dtype: .float64)
        let x = Tensor.randomNormal(shape: [64, 3, 4, 4], dtype: .float64, using: &rng) * scales + shifts
        var norm = ActNorm(channelCount: 3, dtype: .float64)
        let y = norm.initialize(with: x)
        let mean = y.mean(axes: [0, 2, 3]).scalars, variance = y.variance(axes: [0, 2, 3]).scalars
        for c in 0..<3 {
            XCTAssertEqual(mean[c], 0, accuracy: 1e-10, "channel \(c) mean")
            XCTAssertEqual(variance[c], 1, accuracy: 1e-5, "channel \(c) variance")
        }
        XCTAssertEqual(norm.forward(x).output.scalars, y.scalars)
        // Vectors: per feature.
        var vectorNorm = ActNorm(channelCount: 3, dtype: .float64)
        let v = vectorNorm.initialize(with: x.mean(axes: [2, 3]))
        XCTAssertEqual(v.mean(axis: 0).scalars.map { abs($0) }.max()!, 0, accuracy: 1e-10)
        XCTAssertEqual(v.variance(axes: [0]).scalars[2], 1, accuracy: 1e-5)
    }

    func testPriorsAreNormalisedDensities() {
        // Riemann sums of the 1-D densities over a wide interval.
        let grid = Tensor.linspace(-30, 30, count: 60_001, dtype: .float64).reshaped(to: [60_001, 1])
        for prior in FlowPrior.allCases {
            let total = prior.logDensity(grid).exp().sum().item * 0.001
            XCTAssertEqual(total, 1, accuracy: 1e-6, "\(prior)")
        }
    }
}
