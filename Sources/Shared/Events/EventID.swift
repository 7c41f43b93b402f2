import Foundation
import Synchronization

extension UUID {
    /// A new random (version 4) event id. Its bits come from xoshiro256**, seeded once per
    /// process from the system's generator: an event id must be unique, not secret, and the
    /// system's generator costs two `getrandom` calls per id, which every visit a replica
    /// publishes paid. (Foundation's `UUID()` opens and reads `/dev/urandom` on every call.)
    public static func newEventID() -> UUID {
        let (high, low) = EventIDGenerator.shared.withLock { generator in (generator.next(), generator.next()) }
        // Version 4 in the 13th hex digit, the RFC 4122 variant in the 17th.
        let first = (high & 0xFFFF_FFFF_FFFF_0FFF) | 0x0000_0000_0000_4000
        let second = (low & 0x3FFF_FFFF_FFFF_FFFF) | 0x8000_0000_0000_0000
        return UUID(
            uuid: withUnsafeBytes(of: (first.bigEndian, second.bigEndian)) { bytes in
                (
                    bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7],
                    bytes[8], bytes[9], bytes[10], bytes[11], bytes[12], bytes[13], bytes[14], bytes[15]
                )
            })
    }
}

/// xoshiro256** (Blackman and Vigna): 256 bits of state, a period of 2^256 - 1.
struct EventIDGenerator: RandomNumberGenerator {
    static let shared = Mutex(EventIDGenerator())

    private var state: (UInt64, UInt64, UInt64, UInt64)

    /// Seeded from the system's generator (an all-zero state is the one it must not have).
    init() {
        var system = SystemRandomNumberGenerator()
        repeat {
            state = (system.next(), system.next(), system.next(), system.next())
        } while state == (0, 0, 0, 0)
    }

    mutating func next() -> UInt64 {
        let result = Self.rotate(state.1 &* 5, 7) &* 9
        let shifted = state.1 << 17
        state.2 ^= state.0
        state.3 ^= state.1
        state.1 ^= state.2
        state.0 ^= state.3
        state.2 ^= shifted
        state.3 = Self.rotate(state.3, 45)
        return result
    }

    private static func rotate(_ value: UInt64, _ bits: UInt64) -> UInt64 {
        (value << bits) | (value >> (64 - bits))
    }
}
