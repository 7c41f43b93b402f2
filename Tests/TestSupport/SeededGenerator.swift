/// SplitMix64: a small seeded generator, so that a seed replays the same random cases and a
/// test drawn from it cannot flake. It counts its draws.
public struct SeededGenerator: RandomNumberGenerator {
    /// The generator's state: its seed at first.
    public var state: UInt64
    /// How many numbers it has drawn.
    public private(set) var draws = 0

    public init(state: UInt64) { self.state = state }

    public mutating func next() -> UInt64 {
        draws += 1
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
