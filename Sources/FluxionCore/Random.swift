/// A seeded, reproducible random number generator (xoshiro256**, seeded through SplitMix64).
///
/// Randomness in Fluxion is explicit: initialisers, dropout, samplers and data take `using: &rng`.
/// Library code never reads a global generator, so a seed reproduces a run exactly.
public struct SeededGenerator: RandomNumberGenerator, Sendable, Codable, Equatable {
    /// The four 64-bit words of xoshiro256** state (save them to resume with `init(state:)`).
    public private(set) var state: [UInt64]

    /// A generator seeded from `seed`: four successive SplitMix64 outputs as the state (Blackman &
    /// Vigna's recommended seeding).
    public init(seed: UInt64) {
        var s = seed
        var st = [UInt64](repeating: 0, count: 4)
        for i in 0..<4 {
            s &+= 0x9E37_79B9_7F4A_7C15
            var z = s
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            st[i] = z ^ (z >> 31)
        }
        state = st
    }

    /// Restores a generator from a saved `state` (four words).
    public init(state: [UInt64]) {
        precondition(state.count == 4, "SeededGenerator(state:): expected 4 words, got \(state.count)")
        self.state = state
    }

    enum CodingKeys: String, CodingKey { case state }

    /// Decodes a saved generator, checking it: exactly four words, not all zero (xoshiro's one
    /// fixed point, which would return zeros forever).
    public init(from decoder: Decoder) throws {
        let words = try decoder.container(keyedBy: CodingKeys.self).decode([UInt64].self, forKey: .state)
        guard words.count == 4 else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath + [CodingKeys.state],
                                                    debugDescription: "a generator state has 4 words, this one has \(words.count)"))
        }
        guard words.contains(where: { $0 != 0 }) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath + [CodingKeys.state],
                                                    debugDescription: "a generator state of four zeros is invalid"))
        }
        state = words
    }

    @inlinable
    static func rotl(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }

    /// The next 64 random bits: xoshiro256** (Blackman & Vigna 2018), output rotl(s₁·5, 7)·9.
    public mutating func next() -> UInt64 {
        let result = SeededGenerator.rotl(state[1] &* 5, 7) &* 9
        let t = state[1] << 17
        state[2] ^= state[0]
        state[3] ^= state[1]
        state[1] ^= state[2]
        state[0] ^= state[3]
        state[2] ^= t
        state[3] = SeededGenerator.rotl(state[3], 45)
        return result
    }

    /// A uniform double in [0, 1) with 53 random bits.
    public mutating func nextUniform() -> Double {
        Double(next() >> 11) * (1.0 / 9_007_199_254_740_992.0)
    }

    /// A standard normal double (Box–Muller; uses two uniforms, returns one value).
    public mutating func nextNormal() -> Double {
        var u1 = nextUniform()
        while u1 <= 0 { u1 = nextUniform() }
        let u2 = nextUniform()
        return (-2 * Double.log(u1)).squareRoot() * Double.cos(2 * Double.pi * u2)
    }

    /// An independent generator derived from this one (advances this one by one draw).
    public mutating func split() -> SeededGenerator { SeededGenerator(seed: next()) }
}
