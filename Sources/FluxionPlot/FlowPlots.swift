import Foundation

/// A perceptually ordered colour map (dark purple → blue → green → yellow, viridis-like), for
/// heat maps: `color(0)` is the lowest value, `color(1)` the highest.
public enum Colormap {
    static let stops: [Color] = [Color(hex: 0x440154), Color(hex: 0x3B528B), Color(hex: 0x21918C),
                                 Color(hex: 0x5EC962), Color(hex: 0xFDE725)]

    /// The colour at t ∈ [0, 1] (clamped; non-finite t as 0), linear between five viridis stops.
    public static func color(_ t: Double) -> Color {
        let u = Swift.max(0, Swift.min(1, t.isFinite ? t : 0)) * Double(stops.count - 1)
        let i = Swift.min(Int(u), stops.count - 2)
        return stops[i].mixed(with: stops[i + 1], u - Double(i))
    }
}

/// Values on a regular grid over a figure's data ranges, drawn as colours in the plot area:
/// row 0 is the top (largest y), column 0 the left (smallest x). Values are mapped linearly from
/// [min, max] (or the given range) to the colour map; non-finite values draw as the lowest colour.
public struct HeatMap: Sendable {
    /// The grid's values, row-major: `rows` × `columns`.
    public var values: [Double]
    /// The grid's size in cells.
    public var columns: Int, rows: Int
    /// The values mapped to the colour map's ends; nil means the finite values' [min, max].
    public var range: ClosedRange<Double>?

    /// A heat map of `values` on a `columns` × `rows` grid (`values.count` must be `columns`·`rows`).
    public init(values: [Double], columns: Int, rows: Int, range: ClosedRange<Double>? = nil) {
        precondition(values.count == columns * rows, "HeatMap: \(values.count) values for \(columns)×\(rows)")
        self.values = values; self.columns = columns; self.rows = rows; self.range = range
    }

    func paint(on canvas: inout Canvas, _ axes: Axes) {
        let finite = values.filter(\.isFinite)
        let lo = range?.lowerBound ?? finite.min() ?? 0, hi = range?.upperBound ?? finite.max() ?? 1
        let span = hi > lo ? hi - lo : 1
        for py in 0..<axes.height {
            let r = Swift.min(rows - 1, py * rows / Swift.max(axes.height, 1))
            for px in 0..<axes.width {
                let c = Swift.min(columns - 1, px * columns / Swift.max(axes.width, 1))
                let v = values[r * columns + c]
                canvas.setPixel(x: axes.left + px, y: axes.top + py, color: Colormap.color(v.isFinite ? (v - lo) / span : 0))
            }
        }
    }

    /// The density exp(logDensity) of a 2-D model on a `resolution`² grid over the ranges
    /// (cell centres), from a batched log-density `logDensity([N, 2] points as Double pairs) → [N]`.
    public static func density(x: ClosedRange<Double>, y: ClosedRange<Double>, resolution: Int = 160,
                               logDensity: ([Double]) -> [Double]) -> HeatMap {
        var points: [Double] = []
        points.reserveCapacity(2 * resolution * resolution)
        for r in 0..<resolution {
            let py = y.upperBound - (Double(r) + 0.5) / Double(resolution) * (y.upperBound - y.lowerBound)
            for c in 0..<resolution {
                points.append(x.lowerBound + (Double(c) + 0.5) / Double(resolution) * (x.upperBound - x.lowerBound))
                points.append(py)
            }
        }
        return HeatMap(values: logDensity(points).map { Foundation.exp($0) }, columns: resolution, rows: resolution)
    }
}

/// A grid of small grey images (digits) with a title: `images` row-major, values in [0, 1]
/// (clipped), each pixel drawn as a `scale`×`scale` block, 2-pixel white gutters on black cells.
public enum ImageGrid {
    /// A canvas of `images` (each `width` × `height` values, row-major) in a grid `columns` wide
    /// (10 by default), each pixel a `scale` × `scale` block (6 by default), `title` centred on top.
    public static func render(_ images: [[Double]], width: Int, height: Int, columns: Int = 10, scale: Int = 6,
                              title: String = "", textScale: Int = 2) -> Canvas {
        let rows = (images.count + columns - 1) / Swift.max(columns, 1)
        let cell = width * scale + 4, cellH = height * scale + 4
        let top = title.isEmpty ? 4 : 14 * textScale
        let canvasWidth = Swift.max(columns * cell + 8, title.isEmpty ? 0 : Canvas.textWidth(title, scale: textScale) + 16)
        var canvas = Canvas(width: canvasWidth, height: top + rows * cellH + 8)
        if !title.isEmpty { canvas.drawText(title, x: canvasWidth / 2, y: 4 * textScale, color: .black, scale: textScale, alignment: .center) }
        let left = (canvasWidth - columns * cell) / 2
        for (i, image) in images.enumerated() {
            let x = left + (i % columns) * cell + 2, y = top + (i / columns) * cellH + 2
            canvas.drawImage(image.map { Swift.max(0, Swift.min(1, $0)) }, width: width, height: height, x: x, y: y, scale: scale)
        }
        return canvas
    }
}
