import Fluxion
import Foundation

/// Pictures of a run: samples (scatter over the data for 2-D, an image grid for digits), the
/// model's density as a heat map (2-D models with a density), and the loss curve.
enum RunPictures {
    /// The plotting window of a 2-D data set: the data's extent with a margin, square-ish.
    static func window(_ data: Tensor) -> (ClosedRange<Double>, ClosedRange<Double>) {
        let v = data.scalars
        let xs = stride(from: 0, to: v.count, by: 2).map { v[$0] }, ys = stride(from: 1, to: v.count, by: 2).map { v[$0] }
        func range(_ a: [Double]) -> ClosedRange<Double> {
            let sorted = a.sorted()
            let lo = sorted[sorted.count / 200], hi = sorted[sorted.count - 1 - sorted.count / 200]
            let pad = 0.25 * (hi - lo) + 0.1
            return (lo - pad)...(hi + pad)
        }
        return (range(xs), range(ys))
    }

    static func pairs(_ t: Tensor) -> ([Double], [Double]) {
        let v = t.scalars
        return (stride(from: 0, to: v.count, by: 2).map { v[$0] }, stride(from: 1, to: v.count, by: 2).map { v[$0] })
    }

    /// Samples of a 2-D model over the data, or a grid of digit samples.
    static func samples(_ samples: Tensor, data: RunDataset, title: String, to path: String) throws {
        if data.isImage {
            let n = samples.shape[0]
            let images = (0..<n).map { i in Array(samples.scalars[(i * 64)..<((i + 1) * 64)]) }
            try ImageGrid.render(images, width: 8, height: 8, columns: 10, scale: 6, title: title).writePNG(to: path)
            return
        }
        let reference = data.examples(samples.shape[0])
        let (xr, yr) = window(data.test)
        var figure = Figure(width: 760, height: 640, title: title, xLabel: "x1", yLabel: "x2", xRange: xr, yRange: yr)
        let (dx, dy) = pairs(reference), (sx, sy) = pairs(samples)
        figure.scatter(xs: dx, ys: dy, color: Color(hex: 0xB0B0B0), radius: 1.6, opacity: 0.5, label: "data")
        figure.scatter(xs: sx, ys: sy, color: Color.palette[0], radius: 1.6, opacity: 0.55, label: "samples")
        try figure.writePNG(to: path)
    }

    /// The model density exp(log p) on a grid over the data window (2-D models with a density).
    static func density(_ logDensity: (Tensor) -> Tensor?, data: RunDataset, title: String, to path: String) throws -> Bool {
        guard !data.isImage, logDensity(Tensor.zeros(shape: [1, 2])) != nil else { return false }
        let (xr, yr) = window(data.test)
        var figure = Figure(width: 700, height: 640, title: title, xLabel: "x1", yLabel: "x2", xRange: xr, yRange: yr)
        figure.heatMap = HeatMap.density(x: xr, y: yr, resolution: 180) { points in
            logDensity(Tensor(points, shape: [points.count / 2, 2], dtype: .float32))!.scalars
        }
        try figure.writePNG(to: path)
        return true
    }

    /// The training loss against the step.
    static func loss(_ history: [(Int, Double)], title: String, to path: String) throws {
        guard history.count >= 2 else { return }
        var figure = Figure(width: 760, height: 480, title: title, xLabel: "step", yLabel: "loss")
        figure.line(xs: history.map { Double($0.0) }, ys: history.map(\.1), label: "training loss")
        let finite = history.map(\.1).filter(\.isFinite).sorted()
        if finite.count > 10 {   // ignore the first steps' spike when choosing the y range
            let lo = finite.first!, hi = finite[finite.count * 95 / 100]
            figure.yRange = (lo - 0.05 * (hi - lo))...(hi + 0.25 * (hi - lo))
        }
        try figure.writePNG(to: path)
    }
}
