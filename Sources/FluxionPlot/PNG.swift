import Foundation

// A PNG encoder written in the project (no zlib): 8-bit RGB, no interlace, filter 0 per row,
// one IDAT chunk holding a zlib stream (RFC 1950) of DEFLATE blocks (RFC 1951), either stored or
// compressed with the fixed Huffman code and a greedy LZ77 match finder. Plots are mostly flat
// colour, so fixed Huffman with long matches already shrinks them 20-100×.

/// How the PNG's pixel data is deflated.
public enum PNGCompression: Sendable {
    /// Stored (uncompressed) DEFLATE blocks of at most 65,535 bytes.
    case stored
    /// One fixed-Huffman DEFLATE block with LZ77 matches (lengths 3–258, distances ≤ 32,768).
    case fixedHuffman
}

/// PNG encoding of 8-bit RGB images.
public enum PNG {
    /// The 8-byte PNG signature.
    public static let signature: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]

    /// Encodes `rgb` (width·height·3 bytes, rows top to bottom) as a PNG file.
    /// Layout: signature, IHDR (width, height, bit depth 8, colour type 2, 0, 0, 0), IDAT (zlib of the
    /// rows, each prefixed by filter byte 0), IEND; every chunk is length, type, data, CRC-32(type + data).
    public static func encode(width: Int, height: Int, rgb: [UInt8], compression: PNGCompression = .fixedHuffman) -> [UInt8] {
        precondition(width > 0 && height > 0 && rgb.count == width * height * 3,
                     "PNG.encode: \(rgb.count) bytes for a \(width)×\(height) RGB image")
        var raw = [UInt8]()
        raw.reserveCapacity(height * (width * 3 + 1))
        for y in 0..<height {
            raw.append(0)  // filter type 0: none
            raw.append(contentsOf: rgb[(y * width * 3)..<((y + 1) * width * 3)])
        }
        var out = signature
        var header = [UInt8]()
        appendBigEndian(&header, UInt32(width))
        appendBigEndian(&header, UInt32(height))
        header += [8, 2, 0, 0, 0]
        appendChunk(&out, "IHDR", header)
        appendChunk(&out, "IDAT", zlibCompress(raw, compression: compression))
        appendChunk(&out, "IEND", [])
        return out
    }

    /// A zlib stream: CMF 0x78 (deflate, 32 KiB window), FLG 0x01 (check bits, no dictionary),
    /// the DEFLATE data, then the Adler-32 of the uncompressed bytes, big-endian.
    public static func zlibCompress(_ data: [UInt8], compression: PNGCompression) -> [UInt8] {
        var out: [UInt8] = [0x78, 0x01]
        switch compression {
        case .stored: out += deflateStored(data)
        case .fixedHuffman: out += deflateFixed(data)
        }
        appendBigEndian(&out, adler32(data))
        return out
    }

    /// CRC-32 (ISO-HDLC, reflected polynomial 0xEDB88320), as PNG chunks use.
    public static func crc32<S: Sequence>(_ bytes: S) -> UInt32 where S.Element == UInt8 {
        var c: UInt32 = 0xFFFF_FFFF
        for b in bytes { c = crcTable[Int((c ^ UInt32(b)) & 0xFF)] ^ (c >> 8) }
        return c ^ 0xFFFF_FFFF
    }

    /// Adler-32: s1 = 1 + Σb, s2 = Σs1, both mod 65521; the value is s2·65536 + s1.
    public static func adler32(_ bytes: [UInt8]) -> UInt32 {
        var s1: UInt32 = 1, s2: UInt32 = 0
        var i = 0
        while i < bytes.count {
            let end = min(i + 5552, bytes.count)  // 5552 bytes keep s2 below 2³² before the modulo
            while i < end { s1 += UInt32(bytes[i]); s2 += s1; i += 1 }
            s1 %= 65521; s2 %= 65521
        }
        return (s2 << 16) | s1
    }

    private static let crcTable: [UInt32] = (0..<256).map { n in
        var c = UInt32(n)
        for _ in 0..<8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        return c
    }

    private static func appendBigEndian(_ out: inout [UInt8], _ v: UInt32) {
        out += [UInt8(v >> 24), UInt8((v >> 16) & 0xFF), UInt8((v >> 8) & 0xFF), UInt8(v & 0xFF)]
    }

    private static func appendChunk(_ out: inout [UInt8], _ type: String, _ data: [UInt8]) {
        appendBigEndian(&out, UInt32(data.count))
        let body = Array(type.utf8) + data
        out += body
        appendBigEndian(&out, crc32(body))
    }

    // MARK: DEFLATE

    /// Stored blocks: header bits BFINAL, BTYPE = 00 (then byte aligned), LEN, NLEN (little-endian), bytes.
    static func deflateStored(_ data: [UInt8]) -> [UInt8] {
        var out = [UInt8]()
        var start = 0
        repeat {
            let length = min(65_535, data.count - start)
            let final = start + length == data.count
            out.append(final ? 1 : 0)
            out += [UInt8(length & 0xFF), UInt8(length >> 8), UInt8(~length & 0xFF), UInt8((~length >> 8) & 0xFF)]
            out += data[start..<(start + length)]
            start += length
        } while start < data.count
        return out
    }

    static let lengthBase: [Int] = [3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59,
                                    67, 83, 99, 115, 131, 163, 195, 227, 258]
    static let lengthExtra: [Int] = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0]
    static let distanceBase: [Int] = [1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769,
                                      1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577]
    static let distanceExtra: [Int] = [0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13]

    /// One fixed-Huffman block (BFINAL = 1, BTYPE = 01). Literal/length codes: 0–143 → 8 bits from
    /// 0x30, 144–255 → 9 bits from 0x190, 256–279 → 7 bits from 0, 280–287 → 8 bits from 0xC0;
    /// distance codes are 5 bits. Huffman codes go most-significant bit first, extra bits least first.
    /// Matches come from a hash of the next 3 bytes with a chain of up to 16 earlier positions.
    static func deflateFixed(_ data: [UInt8]) -> [UInt8] {
        var bits = BitWriter()
        bits.write(1, count: 1)  // BFINAL
        bits.write(1, count: 2)  // BTYPE = 01
        func literal(_ symbol: Int) {
            switch symbol {
            case 0...143: bits.writeHuffman(0x30 + symbol, count: 8)
            case 144...255: bits.writeHuffman(0x190 + symbol - 144, count: 9)
            case 256...279: bits.writeHuffman(symbol - 256, count: 7)
            default: bits.writeHuffman(0xC0 + symbol - 280, count: 8)
            }
        }
        let window = 32_768, chainLimit = 16
        var head = [Int](repeating: -1, count: 1 << 15)
        var previous = [Int](repeating: -1, count: data.count)
        func hash(_ i: Int) -> Int {
            (Int(data[i]) << 10 ^ Int(data[i + 1]) << 5 ^ Int(data[i + 2])) & 0x7FFF
        }
        func insert(_ i: Int) {
            guard i + 2 < data.count else { return }
            let h = hash(i)
            previous[i] = head[h]
            head[h] = i
        }
        var i = 0
        while i < data.count {
            var bestLength = 0, bestDistance = 0
            if i + 2 < data.count {
                var candidate = head[hash(i)]
                var tries = 0
                let limit = min(258, data.count - i)
                while candidate >= 0 && i - candidate <= window && tries < chainLimit {
                    var l = 0
                    while l < limit && data[candidate + l] == data[i + l] { l += 1 }
                    if l > bestLength { bestLength = l; bestDistance = i - candidate }
                    if l == limit { break }
                    candidate = previous[candidate]
                    tries += 1
                }
            }
            if bestLength >= 3 {
                var code = lengthBase.count - 1
                while lengthBase[code] > bestLength { code -= 1 }
                literal(257 + code)
                bits.write(bestLength - lengthBase[code], count: lengthExtra[code])
                var d = distanceBase.count - 1
                while distanceBase[d] > bestDistance { d -= 1 }
                bits.writeHuffman(d, count: 5)
                bits.write(bestDistance - distanceBase[d], count: distanceExtra[d])
                for k in i..<(i + bestLength) { insert(k) }
                i += bestLength
            } else {
                literal(Int(data[i]))
                insert(i)
                i += 1
            }
        }
        literal(256)  // end of block
        return bits.finish()
    }
}

/// Packs bits least-significant first into bytes, as DEFLATE requires.
struct BitWriter {
    private(set) var bytes: [UInt8] = []
    private var buffer: UInt64 = 0
    private var used = 0

    /// Writes the low `count` bits of `value`, least significant first.
    mutating func write(_ value: Int, count: Int) {
        guard count > 0 else { return }
        buffer |= UInt64(value & ((1 << count) - 1)) << UInt64(used)
        used += count
        while used >= 8 {
            bytes.append(UInt8(buffer & 0xFF))
            buffer >>= 8
            used -= 8
        }
    }

    /// Writes a Huffman code of `count` bits, most significant bit first.
    mutating func writeHuffman(_ code: Int, count: Int) {
        var reversed = 0
        for k in 0..<count { reversed |= ((code >> k) & 1) << (count - 1 - k) }
        write(reversed, count: count)
    }

    /// Flushes the last partial byte (padded with zeros).
    mutating func finish() -> [UInt8] {
        if used > 0 { bytes.append(UInt8(buffer & 0xFF)); buffer = 0; used = 0 }
        return bytes
    }
}
