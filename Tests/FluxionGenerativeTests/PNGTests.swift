import XCTest
import Foundation
import FluxionPlot

/// Decodes our own PNG output independently of the encoder: chunk structure and CRCs, IHDR, a
/// small inflater for stored and fixed-Huffman DEFLATE blocks, Adler-32, and the pixels.
final class PNGTests: XCTestCase {
    struct DecodeError: Error, CustomStringConvertible { let description: String }

    func crc32(_ bytes: [UInt8]) -> UInt32 {
        var c: UInt32 = 0xFFFF_FFFF
        for b in bytes {
            c ^= UInt32(b)
            for _ in 0..<8 { c = c & 1 != 0 ? (c >> 1) ^ 0xEDB8_8320 : c >> 1 }
        }
        return ~c
    }

    func bigEndian(_ b: ArraySlice<UInt8>) -> UInt32 { b.reduce(0) { $0 << 8 | UInt32($1) } }

    /// Reads bits least-significant first.
    struct BitReader {
        let bytes: [UInt8]
        var position = 0  // in bits
        mutating func bit() throws -> Int {
            guard position / 8 < bytes.count else { throw DecodeError(description: "inflate: ran out of data") }
            defer { position += 1 }
            return Int(bytes[position / 8] >> UInt8(position % 8)) & 1
        }
        mutating func bits(_ n: Int) throws -> Int {
            var v = 0
            for k in 0..<n { v |= try bit() << k }
            return v
        }
        /// A Huffman code of n bits, most significant first.
        mutating func huffman(_ n: Int) throws -> Int {
            var v = 0
            for _ in 0..<n { v = v << 1 | (try bit()) }
            return v
        }
    }

    func inflate(_ data: [UInt8]) throws -> (bytes: [UInt8], blockTypes: [Int]) {
        let lengthBase = [3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258]
        let lengthExtra = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0]
        let distBase = [1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073,
                        4097, 6145, 8193, 12289, 16385, 24577]
        let distExtra = [0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13]
        var reader = BitReader(bytes: data)
        var out: [UInt8] = []
        var types: [Int] = []
        var final = 0
        repeat {
            final = try reader.bits(1)
            let type = try reader.bits(2)
            types.append(type)
            switch type {
            case 0:
                reader.position = (reader.position + 7) / 8 * 8
                let i = reader.position / 8
                let len = Int(data[i]) | Int(data[i + 1]) << 8, nlen = Int(data[i + 2]) | Int(data[i + 3]) << 8
                guard len == (~nlen & 0xFFFF) else { throw DecodeError(description: "stored block: LEN/NLEN mismatch") }
                out += data[(i + 4)..<(i + 4 + len)]
                reader.position = (i + 4 + len) * 8
            case 1:
                while true {
                    // Fixed literal/length code: read 7 bits, extend to 8 or 9 as the ranges say.
                    var code = try reader.huffman(7)
                    var symbol: Int
                    if code <= 0b0010111 { symbol = code + 256 }
                    else {
                        code = code << 1 | (try reader.bit())
                        if code >= 0x30 && code <= 0xBF { symbol = code - 0x30 }
                        else if code >= 0xC0 && code <= 0xC7 { symbol = code - 0xC0 + 280 }
                        else { code = code << 1 | (try reader.bit()); symbol = code - 0x190 + 144 }
                    }
                    if symbol < 256 { out.append(UInt8(symbol)); continue }
                    if symbol == 256 { break }
                    let l = symbol - 257
                    let length = lengthBase[l] + (try reader.bits(lengthExtra[l]))
                    let d = try reader.huffman(5)
                    let distance = distBase[d] + (try reader.bits(distExtra[d]))
                    guard distance <= out.count else { throw DecodeError(description: "distance \(distance) beyond output") }
                    for _ in 0..<length { out.append(out[out.count - distance]) }
                }
            default:
                throw DecodeError(description: "unexpected block type \(type)")
            }
        } while final == 0
        return (out, types)
    }

    /// Full decode: returns width, height and RGB bytes, checking every structural field.
    func decode(_ png: [UInt8], expectBlockType: Int) throws -> (Int, Int, [UInt8]) {
        XCTAssertEqual(Array(png[0..<8]), [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
        var i = 8
        var chunks: [(String, [UInt8])] = []
        while i < png.count {
            let length = Int(bigEndian(png[i..<(i + 4)]))
            let typeAndData = Array(png[(i + 4)..<(i + 8 + length)])
            let crc = bigEndian(png[(i + 8 + length)..<(i + 12 + length)])
            XCTAssertEqual(crc, crc32(typeAndData), "chunk CRC")
            chunks.append((String(decoding: typeAndData[0..<4], as: UTF8.self), Array(typeAndData[4...])))
            i += 12 + length
        }
        XCTAssertEqual(i, png.count)
        XCTAssertEqual(chunks.map(\.0), ["IHDR", "IDAT", "IEND"])
        let ihdr = chunks[0].1
        XCTAssertEqual(ihdr.count, 13)
        let width = Int(bigEndian(ihdr[0..<4])), height = Int(bigEndian(ihdr[4..<8]))
        XCTAssertEqual(Array(ihdr[8...]), [8, 2, 0, 0, 0], "8-bit RGB, deflate, filter 0, no interlace")
        let zlib = chunks[1].1
        XCTAssertEqual((Int(zlib[0]) * 256 + Int(zlib[1])) % 31, 0, "zlib header check bits")
        XCTAssertEqual(zlib[0] & 0x0F, 8, "deflate")
        let (raw, types) = try inflate(Array(zlib[2..<(zlib.count - 4)]))
        XCTAssertTrue(types.allSatisfy { $0 == expectBlockType }, "block types \(types)")
        var s1 = 1, s2 = 0
        for b in raw { s1 = (s1 + Int(b)) % 65521; s2 = (s2 + s1) % 65521 }
        let adler: UInt32 = UInt32(s2) << 16 | UInt32(s1)
        XCTAssertEqual(adler, bigEndian(zlib[(zlib.count - 4)...]), "Adler-32")
        XCTAssertEqual(raw.count, height * (width * 3 + 1))
        var rgb: [UInt8] = []
        for y in 0..<height {
            XCTAssertEqual(raw[y * (width * 3 + 1)], 0, "filter byte")
            let stride = width * 3 + 1
            let start = y * stride + 1
            rgb += raw[start..<(start + width * 3)]
        }
        return (width, height, rgb)
    }

    func testKnownChecksums() {
        XCTAssertEqual(PNG.crc32(Array("123456789".utf8)), 0xCBF4_3926)
        XCTAssertEqual(PNG.adler32(Array("Wikipedia".utf8)), 0x11E6_0398)
    }

    func testStoredAndFixedHuffmanRoundTrip() throws {
        var canvas = Canvas(width: 67, height: 41, background: .white)
        canvas.fillRectangle(x: 5, y: 5, width: 20, height: 10, color: Color.palette[0])
        canvas.drawLine(from: (0, 40), to: (66, 0), color: .black, thickness: 2)
        canvas.drawCircle(center: (45, 25), radius: 9, color: Color.palette[1])
        canvas.drawText("Fluxion 0.42", x: 2, y: 30, color: Color.palette[3])
        var rng = SeededGenerator(seed: 1)
        for _ in 0..<200 {  // noise, so that literals of every range appear
            canvas.setPixel(x: Int(rng.next() % 67), y: Int(rng.next() % 41),
                            color: Color(red: UInt8(rng.next() % 256), green: UInt8(rng.next() % 256), blue: UInt8(rng.next() % 256)))
        }
        for (compression, type) in [(PNGCompression.stored, 0), (.fixedHuffman, 1)] {
            let png = canvas.pngData(compression: compression)
            let (w, h, rgb) = try decode(png, expectBlockType: type)
            XCTAssertEqual(w, 67); XCTAssertEqual(h, 41)
            XCTAssertEqual(rgb, canvas.pixels, "\(compression)")
        }
        XCTAssertLessThan(canvas.pngData(compression: .fixedHuffman).count, canvas.pngData(compression: .stored).count / 3)
    }

    func testLargeStoredImageSpansSeveralBlocks() throws {
        let canvas = Canvas(width: 200, height: 150, background: Color(hex: 0x123456))  // 90,150 raw bytes
        let (_, _, rgb) = try decode(canvas.pngData(compression: .stored), expectBlockType: 0)
        XCTAssertEqual(rgb, canvas.pixels)
    }

    func testFigureRendersAndWritesAtomically() throws {
        var rng = SeededGenerator(seed: 4)
        let values = (0..<4000).map { _ in rng.nextNormal() }
        let figure = Figure.histogram(values, binCount: 30, range: -4...4,
                                      density: { exp(-$0 * $0 / 2) / (2 * Double.pi).squareRoot() },
                                      densityLabel: "N(0, 1)", title: "Histogram vs N(0, 1)", xLabel: "x")
        let canvas = figure.render()
        let (w, h, rgb) = try decode(canvas.pngData(), expectBlockType: 1)
        XCTAssertEqual([w, h], [800, 560])
        XCTAssertEqual(rgb, canvas.pixels)
        // The picture has ink: the density curve's red and the bars' blue both appear.
        var colors = Set<Int>()
        for k in stride(from: 0, to: rgb.count, by: 3) {
            let red = Int(rgb[k]) << 16, green = Int(rgb[k + 1]) << 8
            colors.insert(red | green | Int(rgb[k + 2]))
        }
        XCTAssertTrue(colors.contains(0xD62728), "density curve drawn")
        XCTAssertTrue(colors.contains(0x1F77B4), "bar outlines drawn")
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("fluxion-png-\(ProcessInfo.processInfo.processIdentifier)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("histogram.png").path
        try figure.writePNG(to: path)
        let written = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        XCTAssertEqual(written, canvas.pngData())
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: directory.path), ["histogram.png"], "no temporary left")
        XCTAssertThrowsError(try figure.writePNG(to: "/nonexistent-dir/x.png")) { error in
            XCTAssertTrue("\(error)".contains("/nonexistent-dir/x.png"), "\(error)")
        }
    }

    func testNiceTicksAndLabels() {
        XCTAssertEqual(Axes.ticks(in: 0...1, count: 5), [0, 0.2, 0.4, 0.6, 0.8, 1.0])
        XCTAssertEqual(Axes.ticks(in: -3...3, count: 6), [-3, -2, -1, 0, 1, 2, 3])
        XCTAssertEqual(Axes.label(0.25), "0.25")
        XCTAssertEqual(Axes.label(1500), "1500")
        XCTAssertEqual(Axes.label(2e-5), "2.0e-05")
    }
}
