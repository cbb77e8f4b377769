import Foundation

/// A mapping from a data rectangle to a pixel rectangle of a canvas, with "nice" ticks.
/// Reusable on its own: loss curves, heat maps and image grids draw into `plotArea` through it.
public struct Axes: Sendable {
    /// The data ranges shown.
    public var xRange: ClosedRange<Double>
    /// The data range shown on the y axis.
    public var yRange: ClosedRange<Double>
    /// The pixel rectangle of the plotting area (left, top, width, height).
    public var left: Int, top: Int, width: Int, height: Int

    /// Axes mapping `xRange` × `yRange` onto the pixel rectangle at (`left`, `top`) of `width` × `height`;
    /// a degenerate range a…a is widened to a − ½…a + ½ (or ±10% of |a|).
    public init(xRange: ClosedRange<Double>, yRange: ClosedRange<Double>, left: Int, top: Int, width: Int, height: Int) {
        self.xRange = Axes.widened(xRange); self.yRange = Axes.widened(yRange)
        self.left = left; self.top = top; self.width = width; self.height = height
    }

    /// A degenerate range a…a becomes a − ½…a + ½ (or ±10% of |a|).
    static func widened(_ r: ClosedRange<Double>) -> ClosedRange<Double> {
        guard r.upperBound <= r.lowerBound else { return r }
        let pad = r.lowerBound == 0 ? 0.5 : 0.1 * Swift.abs(r.lowerBound)
        return (r.lowerBound - pad)...(r.upperBound + pad)
    }

    /// The pixel position of the data point (x, y): x grows right, y grows up.
    public func pixel(x: Double, y: Double) -> (x: Double, y: Double) {
        let u = (x - xRange.lowerBound) / (xRange.upperBound - xRange.lowerBound)
        let v = (y - yRange.lowerBound) / (yRange.upperBound - yRange.lowerBound)
        return (Double(left) + u * Double(width - 1), Double(top) + (1 - v) * Double(height - 1))
    }

    /// About `count` round tick values (steps 1, 2, 2.5 or 5 × 10^k) inside `range`.
    public static func ticks(in range: ClosedRange<Double>, count: Int = 6) -> [Double] {
        let span = range.upperBound - range.lowerBound
        guard span > 0, span.isFinite else { return [range.lowerBound] }
        let raw = span / Double(max(count, 1))
        let magnitude = pow(10, (log10(raw)).rounded(.down))
        let mantissa = [1, 2, 2.5, 5, 10].first { $0 * magnitude >= raw } ?? 10
        let step = mantissa * magnitude
        // k·mantissa/10^j instead of repeated addition, so that ticks are the nearest doubles to
        // round decimals (0.6, not 0.6000000000000001).
        func tick(_ k: Int) -> Double {
            magnitude < 1 ? Double(k) * mantissa / (1 / magnitude).rounded() : Double(k) * mantissa * magnitude
        }
        var k = Int((range.lowerBound / step).rounded(.up))
        var out: [Double] = []
        while tick(k) <= range.upperBound + 1e-9 * step && out.count < 100 {
            out.append(tick(k) == 0 ? 0 : tick(k))
            k += 1
        }
        return out
    }

    /// A short label for a tick value: at most 4 significant digits, exponent form when very
    /// large or small.
    public static func label(_ v: Double) -> String {
        if v == 0 { return "0" }
        let a = Swift.abs(v)
        if a >= 1e5 || a < 1e-3 { return String(format: "%.1e", v) }
        var s = String(format: "%.4g", v)
        if s.contains(".") && !s.contains("e") {
            while s.hasSuffix("0") { s.removeLast() }
            if s.hasSuffix(".") { s.removeLast() }
        }
        return s
    }

    /// Draws the light grid, the frame, tick marks and tick labels.
    public func draw(on canvas: inout Canvas, scale: Int = 1) {
        let xTicks = Axes.ticks(in: xRange), yTicks = Axes.ticks(in: yRange)
        for t in xTicks {
            let px = Int(pixel(x: t, y: yRange.lowerBound).x.rounded())
            canvas.fillRectangle(x: px, y: top, width: 1, height: height, color: .lightGray)
            canvas.fillRectangle(x: px, y: top + height, width: 1, height: 5 * scale, color: .darkGray)
            canvas.drawText(Axes.label(t), x: px, y: top + height + 8 * scale, color: .darkGray, scale: scale, alignment: .center)
        }
        for t in yTicks {
            let py = Int(pixel(x: xRange.lowerBound, y: t).y.rounded())
            canvas.fillRectangle(x: left, y: py, width: width, height: 1, color: .lightGray)
            canvas.fillRectangle(x: left - 5 * scale, y: py, width: 5 * scale, height: 1, color: .darkGray)
            canvas.drawText(Axes.label(t), x: left - 8 * scale, y: py - Canvas.textHeight(scale: scale) / 2,
                            color: .darkGray, scale: scale, alignment: .right)
        }
        canvas.strokeRectangle(x: left - 1, y: top - 1, width: width + 2, height: height + 2, color: .darkGray)
    }
}

/// A chart: series collected first, drawn by `render()` once the data ranges are known.
/// Supports line plots (curves, loss curves), scatter plots and bar histograms, with a title,
/// axis labels and a legend.
public struct Figure {
    /// The canvas size in pixels; 800 × 560 by default.
    public var width: Int, height: Int
    /// The title and the axis labels; empty (not drawn) by default.
    public var title: String, xLabel: String, yLabel: String
    /// Fixed data ranges; nil means fitted to the data with 5% margins (bars include 0).
    public var xRange: ClosedRange<Double>?, yRange: ClosedRange<Double>?
    /// Font cell size in pixels (2 gives 10×14-pixel characters).
    public var textScale: Int

    enum Series {
        case line(xs: [Double], ys: [Double], color: Color, thickness: Int, label: String?)
        case scatter(xs: [Double], ys: [Double], color: Color, radius: Double, opacity: Double, label: String?)
        case bars(edges: [Double], heights: [Double], color: Color, label: String?)

        var hasLabel: Bool {
            switch self {
            case .line(_, _, _, _, let l), .scatter(_, _, _, _, _, let l), .bars(_, _, _, let l): return l != nil
            }
        }
    }
    var series: [Series] = []
    /// A heat map filling the plot area under the series (see `FlowPlots.swift`).
    public var heatMap: HeatMap?

    /// An empty figure of `width` × `height` pixels (800 × 560 by default), ranges fitted to the data
    /// unless given, text scale 2.
    public init(width: Int = 800, height: Int = 560, title: String = "", xLabel: String = "", yLabel: String = "",
                xRange: ClosedRange<Double>? = nil, yRange: ClosedRange<Double>? = nil, textScale: Int = 2) {
        self.width = width; self.height = height; self.title = title; self.xLabel = xLabel; self.yLabel = yLabel
        self.xRange = xRange; self.yRange = yRange; self.textScale = textScale
    }

    /// The next palette colour.
    var nextColor: Color { Color.palette[series.count % Color.palette.count] }

    /// A polyline through (xs[i], ys[i]); non-finite points break the line.
    public mutating func line(xs: [Double], ys: [Double], color: Color? = nil, thickness: Int = 2, label: String? = nil) {
        precondition(xs.count == ys.count, "Figure.line: \(xs.count) x values but \(ys.count) y values")
        series.append(.line(xs: xs, ys: ys, color: color ?? nextColor, thickness: thickness, label: label))
    }

    /// The curve y = f(x) sampled at `samples` points over [range.lowerBound, range.upperBound].
    public mutating func function(_ f: (Double) -> Double, over range: ClosedRange<Double>, samples: Int = 400,
                                  color: Color? = nil, thickness: Int = 2, label: String? = nil) {
        let xs = (0..<samples).map { range.lowerBound + (range.upperBound - range.lowerBound) * Double($0) / Double(max(samples - 1, 1)) }
        line(xs: xs, ys: xs.map(f), color: color, thickness: thickness, label: label)
    }

    /// Points as discs of `radius` pixels, blended with `opacity` so that dense regions read darker.
    public mutating func scatter(xs: [Double], ys: [Double], color: Color? = nil, radius: Double = 2,
                                 opacity: Double = 0.6, label: String? = nil) {
        precondition(xs.count == ys.count, "Figure.scatter: \(xs.count) x values but \(ys.count) y values")
        series.append(.scatter(xs: xs, ys: ys, color: color ?? nextColor, radius: radius, opacity: opacity, label: label))
    }

    /// Bars over [edges[i], edges[i + 1]] of height heights[i] (a histogram).
    public mutating func bars(edges: [Double], heights: [Double], color: Color? = nil, label: String? = nil) {
        precondition(edges.count == heights.count + 1, "Figure.bars: \(edges.count) edges for \(heights.count) bars")
        series.append(.bars(edges: edges, heights: heights, color: color ?? nextColor, label: label))
    }

    /// A density histogram of `values` with `binCount` equal bins (area 1), optionally overlaid with
    /// a density curve p(x), e.g. the Gaussian a histogram should match.
    public static func histogram(_ values: [Double], binCount: Int = 40, range: ClosedRange<Double>? = nil,
                                 density: ((Double) -> Double)? = nil, densityLabel: String? = nil,
                                 title: String = "", xLabel: String = "", yLabel: String = "density") -> Figure {
        let finite = values.filter(\.isFinite)
        let r = Axes.widened(range ?? ((finite.min() ?? 0)...(finite.max() ?? 1)))
        let bins = max(binCount, 1)
        let w = (r.upperBound - r.lowerBound) / Double(bins)
        var counts = [Double](repeating: 0, count: bins)
        for v in finite where r.contains(v) { counts[min(Int((v - r.lowerBound) / w), bins - 1)] += 1 }
        var figure = Figure(title: title, xLabel: xLabel, yLabel: yLabel)
        figure.bars(edges: (0...bins).map { r.lowerBound + Double($0) * w },
                    heights: counts.map { $0 / (Double(max(finite.count, 1)) * w) }, label: "histogram")
        if let density { figure.function(density, over: r, color: Color.palette[3], thickness: 3, label: densityLabel) }
        return figure
    }

    /// The data ranges: the fixed ones, or the data's extent with a 5% margin.
    func fittedRanges() -> (ClosedRange<Double>, ClosedRange<Double>) {
        var xs: [Double] = [], ys: [Double] = []
        for s in series {
            switch s {
            case let .line(x, y, _, _, _), let .scatter(x, y, _, _, _, _):
                for (a, b) in zip(x, y) where a.isFinite && b.isFinite { xs.append(a); ys.append(b) }
            case let .bars(edges, heights, _, _):
                xs += edges.filter(\.isFinite); ys += heights.filter(\.isFinite) + [0]
            }
        }
        func fit(_ v: [Double], top: Double) -> ClosedRange<Double> {
            guard let lo = v.min(), let hi = v.max() else { return 0...1 }
            let pad = 0.05 * (hi - lo)
            return Axes.widened((lo == 0 ? 0 : lo - pad)...(hi + top * (hi - lo)))
        }
        // Headroom above the data for the legend box in the top-right corner.
        let legendRows = series.filter(\.hasLabel).count
        return (xRange ?? fit(xs, top: 0.05), yRange ?? fit(ys, top: legendRows == 0 ? 0.05 : 0.05 + 0.07 * Double(legendRows)))
    }

    /// Draws everything onto a new canvas.
    public func render() -> Canvas {
        var canvas = Canvas(width: width, height: height)
        let s = textScale
        let (xr, yr) = fittedRanges()
        let yLabelWidth = Axes.ticks(in: yr).map { Canvas.textWidth(Axes.label($0), scale: s) }.max() ?? 0
        let left = 20 * s + yLabelWidth + (yLabel.isEmpty ? 0 : 12 * s)
        let top = title.isEmpty ? 12 * s : 24 * s
        let bottom = 24 * s + (xLabel.isEmpty ? 0 : 12 * s)
        let axes = Axes(xRange: xr, yRange: yr, left: left, top: top,
                        width: max(width - left - 12 * s, 10), height: max(height - top - bottom, 10))
        axes.draw(on: &canvas, scale: s)
        if let heatMap { heatMap.paint(on: &canvas, axes) }
        if !title.isEmpty { canvas.drawText(title, x: width / 2, y: 7 * s, color: .black, scale: s, alignment: .center) }
        if !xLabel.isEmpty {
            canvas.drawText(xLabel, x: axes.left + axes.width / 2, y: height - 11 * s, color: .black, scale: s, alignment: .center)
        }
        if !yLabel.isEmpty { canvas.drawVerticalText(yLabel, x: 4 * s, centerY: axes.top + axes.height / 2, scale: s) }
        var plot = canvas  // series are drawn here, then clipped to the plot area
        for series in series { draw(series, axes, &plot) }
        // Restore everything outside the plot area (clipping), then the frame on top.
        for y in 0..<height where y < axes.top || y >= axes.top + axes.height {
            for x in 0..<width { plot.setPixel(x: x, y: y, color: canvas[x, y]) }
        }
        for y in axes.top..<(axes.top + axes.height) {
            for x in 0..<width where x < axes.left || x >= axes.left + axes.width { plot.setPixel(x: x, y: y, color: canvas[x, y]) }
        }
        drawLegend(&plot, axes)
        return plot
    }

    private func draw(_ series: Series, _ axes: Axes, _ canvas: inout Canvas) {
        switch series {
        case let .line(xs, ys, color, thickness, _):
            var last: (x: Double, y: Double)? = nil
            for (x, y) in zip(xs, ys) {
                guard x.isFinite, y.isFinite else { last = nil; continue }
                let p = axes.pixel(x: x, y: y)
                if let l = last { canvas.drawLine(from: l, to: p, color: color, thickness: thickness) }
                else if xs.count == 1 { canvas.drawCircle(center: p, radius: Double(thickness), color: color) }
                last = p
            }
        case let .scatter(xs, ys, color, radius, opacity, _):
            for (x, y) in zip(xs, ys) where x.isFinite && y.isFinite {
                canvas.drawCircle(center: axes.pixel(x: x, y: y), radius: radius, color: color, opacity: opacity)
            }
        case let .bars(edges, heights, color, _):
            let fill = color.mixed(with: .white, 0.45)
            for (i, h) in heights.enumerated() where h.isFinite {
                let a = axes.pixel(x: edges[i], y: max(h, 0)), b = axes.pixel(x: edges[i + 1], y: min(h, 0))
                let x0 = Int(a.x.rounded()), x1 = Int(b.x.rounded()), y0 = Int(a.y.rounded()), y1 = Int(b.y.rounded())
                canvas.fillRectangle(x: x0, y: y0, width: max(x1 - x0, 1), height: max(y1 - y0, 1), color: fill)
                canvas.strokeRectangle(x: x0, y: y0, width: max(x1 - x0 + 1, 1), height: max(y1 - y0 + 1, 1), color: color)
            }
        }
    }

    private func drawLegend(_ canvas: inout Canvas, _ axes: Axes) {
        let entries: [(String, Color)] = series.compactMap {
            switch $0 {
            case let .line(_, _, c, _, l?), let .scatter(_, _, c, _, _, l?), let .bars(_, _, c, l?): return (l, c)
            default: return nil
            }
        }
        guard !entries.isEmpty else { return }
        let s = textScale
        let rowHeight = 11 * s
        let boxWidth = (entries.map { Canvas.textWidth($0.0, scale: s) }.max() ?? 0) + 26 * s
        let x = axes.left + axes.width - boxWidth - 6 * s, y = axes.top + 6 * s
        canvas.fillRectangle(x: x, y: y, width: boxWidth, height: rowHeight * entries.count + 6 * s, color: .white, opacity: 0.85)
        canvas.strokeRectangle(x: x, y: y, width: boxWidth, height: rowHeight * entries.count + 6 * s, color: .gray)
        for (i, (label, color)) in entries.enumerated() {
            let cy = y + 4 * s + i * rowHeight
            canvas.fillRectangle(x: x + 5 * s, y: cy + 2 * s, width: 12 * s, height: 4 * s, color: color)
            canvas.drawText(label, x: x + 21 * s, y: cy, color: .black, scale: s)
        }
    }

    /// Renders and writes the figure as a PNG (temporary name, then rename).
    public func writePNG(to path: String) throws { try render().writePNG(to: path) }
}
