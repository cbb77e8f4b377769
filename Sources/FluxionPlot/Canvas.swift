import Foundation

/// An 8-bit RGB colour.
public struct Color: Equatable, Sendable {
    /// The channels, 0…255.
    public var red: UInt8, green: UInt8, blue: UInt8
    /// A colour from its three channels.
    public init(red: UInt8, green: UInt8, blue: UInt8) { self.red = red; self.green = green; self.blue = blue }
    /// A colour from 0xRRGGBB.
    public init(hex: UInt32) { self.init(red: UInt8(hex >> 16 & 0xFF), green: UInt8(hex >> 8 & 0xFF), blue: UInt8(hex & 0xFF)) }

    /// #FFFFFF.
    public static let white = Color(hex: 0xFFFFFF)
    /// #000000.
    public static let black = Color(hex: 0x000000)
    /// #404040, for axes and tick labels.
    public static let darkGray = Color(hex: 0x404040)
    /// #909090.
    public static let gray = Color(hex: 0x909090)
    /// #E4E4E4, for grid lines.
    public static let lightGray = Color(hex: 0xE4E4E4)
    /// The ten-colour qualitative palette of matplotlib's "tab10", readable on white.
    public static let palette: [Color] = [0x1F77B4, 0xFF7F0E, 0x2CA02C, 0xD62728, 0x9467BD,
                                          0x8C564B, 0xE377C2, 0x7F7F7F, 0xBCBD22, 0x17BECF].map { Color(hex: $0) }

    /// The linear mix (1 − t)·self + t·other, t ∈ [0, 1].
    public func mixed(with other: Color, _ t: Double) -> Color {
        func m(_ a: UInt8, _ b: UInt8) -> UInt8 { UInt8(max(0, min(255, (Double(a) * (1 - t) + Double(b) * t).rounded()))) }
        return Color(red: m(red, other.red), green: m(green, other.green), blue: m(blue, other.blue))
    }
}

/// Horizontal placement of text relative to its anchor point.
public enum TextAlignment: Sendable { case left, center, right }

/// An RGB raster with drawing primitives: pixels, rectangles, lines, circles and bitmap text.
/// Coordinates are pixels, x to the right and y down, (0, 0) the top-left corner; drawing outside
/// the canvas is clipped silently.
public struct Canvas {
    /// Width in pixels.
    public let width: Int
    /// Height in pixels.
    public let height: Int
    /// width·height·3 bytes, rows top to bottom.
    public private(set) var pixels: [UInt8]

    /// A canvas filled with `background`.
    public init(width: Int, height: Int, background: Color = .white) {
        precondition(width > 0 && height > 0, "Canvas: size must be positive, got \(width)×\(height)")
        self.width = width
        self.height = height
        pixels = [UInt8](repeating: 0, count: width * height * 3)
        fillRectangle(x: 0, y: 0, width: width, height: height, color: background)
    }

    /// The colour at (x, y).
    public subscript(x: Int, y: Int) -> Color {
        let i = (y * width + x) * 3
        return Color(red: pixels[i], green: pixels[i + 1], blue: pixels[i + 2])
    }

    /// Sets (x, y) to `color` blended with what is there: opacity 1 replaces it.
    public mutating func setPixel(x: Int, y: Int, color: Color, opacity: Double = 1) {
        guard x >= 0, y >= 0, x < width, y < height else { return }
        let i = (y * width + x) * 3
        let c = opacity >= 1 ? color : Color(red: pixels[i], green: pixels[i + 1], blue: pixels[i + 2]).mixed(with: color, opacity)
        pixels[i] = c.red; pixels[i + 1] = c.green; pixels[i + 2] = c.blue
    }

    /// Fills the axis-aligned rectangle [x, x + width) × [y, y + height).
    public mutating func fillRectangle(x: Int, y: Int, width w: Int, height h: Int, color: Color, opacity: Double = 1) {
        let (x0, y0) = (max(x, 0), max(y, 0))
        let (x1, y1) = (min(x + w, width), min(y + h, height))
        guard x0 < x1, y0 < y1 else { return }
        for yy in y0..<y1 { for xx in x0..<x1 { setPixel(x: xx, y: yy, color: color, opacity: opacity) } }
    }

    /// The outline of a rectangle, `thickness` pixels wide, inside its bounds.
    public mutating func strokeRectangle(x: Int, y: Int, width w: Int, height h: Int, color: Color, thickness: Int = 1) {
        fillRectangle(x: x, y: y, width: w, height: thickness, color: color)
        fillRectangle(x: x, y: y + h - thickness, width: w, height: thickness, color: color)
        fillRectangle(x: x, y: y, width: thickness, height: h, color: color)
        fillRectangle(x: x + w - thickness, y: y, width: thickness, height: h, color: color)
    }

    /// A straight line from (x0, y0) to (x1, y1) (Bresenham), drawn with a square brush of
    /// `thickness` pixels.
    public mutating func drawLine(from start: (x: Double, y: Double), to end: (x: Double, y: Double),
                                  color: Color, thickness: Int = 1) {
        guard start.x.isFinite, start.y.isFinite, end.x.isFinite, end.y.isFinite else { return }
        // Clamp far-away coordinates so the loop stays bounded (the part off the canvas is clipped anyway).
        let limit = Double(4 * max(width, height))
        func clamp(_ v: Double) -> Int { Int(max(-limit, min(limit, v)).rounded()) }
        var (x, y) = (clamp(start.x), clamp(start.y))
        let (x1, y1) = (clamp(end.x), clamp(end.y))
        let dx = Swift.abs(x1 - x), dy = -Swift.abs(y1 - y)
        let sx = x < x1 ? 1 : -1, sy = y < y1 ? 1 : -1
        var error = dx + dy
        let low = -(thickness - 1) / 2, high = thickness / 2
        while true {
            for oy in low...high { for ox in low...high { setPixel(x: x + ox, y: y + oy, color: color) } }
            if x == x1 && y == y1 { break }
            let e2 = 2 * error
            if e2 >= dy { error += dy; x += sx }
            if e2 <= dx { error += dx; y += sy }
        }
    }

    /// A circle of `radius` pixels centred at (x, y): filled (a disc) or its one-pixel outline.
    public mutating func drawCircle(center: (x: Double, y: Double), radius: Double, color: Color,
                                    filled: Bool = true, opacity: Double = 1) {
        guard center.x.isFinite, center.y.isFinite else { return }
        let r = max(radius, 0.5)
        let x0 = Int((center.x - r).rounded(.down)), x1 = Int((center.x + r).rounded(.up))
        let y0 = Int((center.y - r).rounded(.down)), y1 = Int((center.y + r).rounded(.up))
        for yy in max(y0, 0)...max(min(y1, height - 1), 0) {
            for xx in max(x0, 0)...max(min(x1, width - 1), 0) {
                let d = ((Double(xx) - center.x) * (Double(xx) - center.x) + (Double(yy) - center.y) * (Double(yy) - center.y)).squareRoot()
                if filled ? d <= r : Swift.abs(d - r) < 0.6 { setPixel(x: xx, y: yy, color: color, opacity: opacity) }
            }
        }
    }

    /// The width in pixels of `text` drawn at `scale`.
    public static func textWidth(_ text: String, scale: Int = 1) -> Int {
        max(text.count * BitmapFont.advance - 1, 0) * scale
    }

    /// The height in pixels of a line of text at `scale`.
    public static func textHeight(scale: Int = 1) -> Int { BitmapFont.glyphHeight * scale }

    /// Draws `text` with the built-in 5×7 font, each font cell `scale`×`scale` pixels; `y` is the top
    /// of the glyphs and `x` the left edge, centre or right edge according to `alignment`.
    public mutating func drawText(_ text: String, x: Int, y: Int, color: Color = .black, scale: Int = 1,
                                  alignment: TextAlignment = .left) {
        let w = Canvas.textWidth(text, scale: scale)
        var penX = alignment == .left ? x : (alignment == .center ? x - w / 2 : x - w)
        for c in text {
            let glyph = BitmapFont.glyph(c)
            for (row, cells) in glyph.enumerated() {
                for (column, ink) in cells.enumerated() where ink {
                    fillRectangle(x: penX + column * scale, y: y + row * scale, width: scale, height: scale, color: color)
                }
            }
            penX += BitmapFont.advance * scale
        }
    }

    /// Draws `text` rotated 90° counter-clockwise (reading bottom to top), centred vertically on
    /// `centerY`, with its glyph tops at column `x`; for y-axis labels.
    public mutating func drawVerticalText(_ text: String, x: Int, centerY: Int, color: Color = .black, scale: Int = 1) {
        let w = Canvas.textWidth(text, scale: scale)
        var penY = centerY + w / 2
        for c in text {
            let glyph = BitmapFont.glyph(c)
            for (row, cells) in glyph.enumerated() {
                for (column, ink) in cells.enumerated() where ink {
                    fillRectangle(x: x + row * scale, y: penY - (column + 1) * scale, width: scale, height: scale, color: color)
                }
            }
            penY -= BitmapFont.advance * scale
        }
    }

    /// Copies a grey or RGB image (values in [0, 1], row-major, `channels` 1 or 3) with its top-left
    /// corner at (x, y), each image pixel drawn as a `scale`×`scale` block. For image grids.
    public mutating func drawImage(_ values: [Double], width w: Int, height h: Int, channels: Int = 1,
                                   x: Int, y: Int, scale: Int = 1) {
        precondition(channels == 1 || channels == 3, "drawImage: channels must be 1 or 3")
        precondition(values.count == w * h * channels, "drawImage: \(values.count) values for \(w)×\(h)×\(channels)")
        func byte(_ v: Double) -> UInt8 { UInt8(max(0, min(255, (v * 255).rounded()))) }
        for row in 0..<h {
            for column in 0..<w {
                let i = (row * w + column) * channels
                let c = channels == 1 ? Color(red: byte(values[i]), green: byte(values[i]), blue: byte(values[i]))
                                      : Color(red: byte(values[i]), green: byte(values[i + 1]), blue: byte(values[i + 2]))
                fillRectangle(x: x + column * scale, y: y + row * scale, width: scale, height: scale, color: c)
            }
        }
    }

    /// The canvas as a PNG file.
    public func pngData(compression: PNGCompression = .fixedHuffman) -> [UInt8] {
        PNG.encode(width: width, height: height, rgb: pixels, compression: compression)
    }

    /// Writes the canvas as a PNG to `path` (temporary name, then rename).
    public func writePNG(to path: String, compression: PNGCompression = .fixedHuffman) throws {
        try FileIO.writeAtomically(Data(pngData(compression: compression)), to: path)
    }
}
