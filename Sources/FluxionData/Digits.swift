import Foundation
@_exported import FluxionCore

/// The 8×8 optical handwritten digits (UCI, CC BY 4.0; `Resources/digits.rst`), shipped with the
/// project: 1,797 images of 64 pixels with values 0…16, and their labels 0…9.
///
/// Conventions (shared/data/README.md), so that figures compare with published ones:
/// - split: row index % 5 == 0 → test (360 images), the rest → train (1,437);
/// - dequantisation x = (pixel + u)/17, u ~ U(0, 1)^64, so x ∈ [0, 1)^64;
/// - bits/dim on the 17-level data: (−ln p(x) + 64 ln 17)/(64 ln 2), p the density on [0, 1)^64.
public struct Digits {
    /// Pixel values 0…16, [N, 64] (row-major 8×8), float64.
    public var pixels: Tensor
    /// Labels 0…9, [N], int32.
    public var labels: Tensor

    /// Image side length: 8 (8×8 = 64 pixels).
    public static let side = 8
    /// Grey levels per pixel: 17 (values 0…16).
    public static let levels = 17

    /// Which images `load` returns: the train split (1,437), the test split (360) or all 1,797.
    public enum Split: String, Sendable { case train, test, all }

    /// Loads the shipped file (or `path`) and returns the requested split.
    public static func load(_ split: Split = .all, path: String? = nil) throws -> Digits {
        let file = path ?? Bundle.module.path(forResource: "digits", ofType: "csv") ?? "Resources/digits.csv"
        guard let data = FileManager.default.contents(atPath: file) else {
            throw FluxionError(.io, file: file, "cannot read the digits data")
        }
        var pixels: [Double] = [], labels: [Int32] = []
        var row = 0
        for line in String(decoding: data, as: UTF8.self).split(separator: "\n") where !line.isEmpty {
            defer { row += 1 }
            let keep: Bool
            switch split {
            case .train: keep = row % 5 != 0
            case .test: keep = row % 5 == 0
            case .all: keep = true
            }
            let fields = line.split(separator: ",")
            guard fields.count == 65, let values = Optional(fields.compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }),
                  values.count == 65, values[..<64].allSatisfy({ (0...16).contains($0) }), (0...9).contains(values[64]) else {
                throw FluxionError(.malformed, file: file, "line \(row + 1): expected 64 pixel values 0–16 and a label 0–9")
            }
            if keep {
                pixels += values[..<64].map(Double.init)
                labels.append(Int32(values[64]))
            }
        }
        return Digits(pixels: Tensor(pixels, shape: [labels.count, 64], dtype: .float64), labels: Tensor(labels))
    }

    /// Number of images N.
    public var count: Int { labels.count }

    /// The images whose index (within this set) satisfies `include`, in order.
    public func subset(_ include: (Int) -> Bool) -> Digits {
        let index = Tensor((0..<count).filter(include).map { Int32($0) })
        return Digits(pixels: pixels.indexSelect(axis: 0, indices: index), labels: labels.indexSelect(axis: 0, indices: index))
    }

    /// Uniformly dequantised images x = (pixel + u)/17 ∈ [0, 1)^64, [N, 64].
    public func dequantized(dtype: DType = .float32, using rng: inout SeededGenerator) -> Tensor {
        let u = Tensor.randomUniform(shape: pixels.shape, dtype: .float64, using: &rng)
        return ((pixels + u) / Double(Self.levels)).cast(to: dtype)
    }

    /// Bits per dimension on the 17-level data from the mean log-density (nats) on [0, 1)^64.
    public static func bitsPerDimension(logDensity: Double, dimensions: Int = 64) -> Double {
        (-logDensity + Double(dimensions) * Foundation.log(Double(levels))) / (Double(dimensions) * Foundation.log(2.0))
    }
}

/// Shuffled mini-batches over `count` examples, epoch after epoch, driven by an explicit generator:
/// each epoch is a fresh Fisher–Yates permutation; the last incomplete batch of an epoch is dropped.
public struct ShuffledBatches: Sendable, Codable, Equatable {
    /// Number of examples drawn from, 0..<count.
    public let count: Int
    /// Examples per batch (at most `count`).
    public let batchSize: Int
    var order: [Int] = []
    var position = 0

    /// Batches of `batchSize` (clipped to `count`) over `count` examples; both must be positive.
    /// The first epoch's order is drawn on the first batch.
    public init(count: Int, batchSize: Int) {
        precondition(count >= 1 && batchSize >= 1, "ShuffledBatches: count and batch size must be positive")
        self.count = count
        self.batchSize = Swift.min(batchSize, count)
    }

    enum CodingKeys: String, CodingKey { case count, batchSize, order, position }

    /// Decodes a saved data order, checking it: positive sizes, the order empty or a permutation
    /// of 0..<count, the position within it.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        count = try c.decode(Int.self, forKey: .count)
        batchSize = try c.decode(Int.self, forKey: .batchSize)
        order = try c.decode([Int].self, forKey: .order)
        position = try c.decode(Int.self, forKey: .position)
        func fail(_ key: CodingKeys, _ why: String) -> DecodingError {
            DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath + [key], debugDescription: why))
        }
        guard count >= 1 else { throw fail(.count, "count must be positive, got \(count)") }
        guard batchSize >= 1, batchSize <= count else { throw fail(.batchSize, "batch size must be in 1...\(count), got \(batchSize)") }
        if !order.isEmpty {
            guard order.count == count, Set(order) == Set(0..<count) else { throw fail(.order, "the order is not a permutation of 0..<\(count)") }
        }
        guard position >= 0, position <= count else { throw fail(.position, "position \(position) is outside 0...\(count)") }
    }

    /// The indices of the next batch, as an int32 tensor [batchSize] for `indexSelect`.
    public mutating func next(using rng: inout SeededGenerator) -> Tensor {
        if order.isEmpty || position + batchSize > count {
            order = Array(0..<count)
            for i in stride(from: count - 1, to: 0, by: -1) {
                let j = Int(rng.next() % UInt64(i + 1))
                order.swapAt(i, j)
            }
            position = 0
        }
        defer { position += batchSize }
        return Tensor(order[position..<(position + batchSize)].map { Int32($0) })
    }
}
