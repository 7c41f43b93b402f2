import Foundation
import Testing
@testable import SharedEvents

/// Event ids: version 4 UUIDs, never the same twice, every random bit even.
@Suite struct EventIDTests {
    @Test func idsAreVersionFourUniqueAndEvenInEveryRandomBit() {
        let count = 100_000
        var seen = Set<UUID>()
        seen.reserveCapacity(count)
        var ones = [Int](repeating: 0, count: 128)
        var otherVersions = 0
        for _ in 0..<count {
            let id = UUID.newEventID()
            seen.insert(id)
            withUnsafeBytes(of: id.uuid) { bytes in
                for bit in 0..<128 where bytes[bit / 8] & (0x80 >> UInt8(bit % 8)) != 0 { ones[bit] += 1 }
            }
            if id.uuid.6 >> 4 != 4 || id.uuid.8 >> 6 != 0b10 { otherVersions += 1 }
        }
        #expect(otherVersions == 0, "version 4, RFC 4122 variant")
        #expect(seen.count == count, "no id twice")
        // The version (bits 48-51) and variant (64-65) are fixed; each other bit is set about
        // half the time (six standard deviations: 950 of 50,000).
        let fixed: Set<Int> = [48, 49, 50, 51, 64, 65]
        for bit in 0..<128 where !fixed.contains(bit) {
            #expect(abs(ones[bit] - count / 2) < 950, "bit \(bit): \(ones[bit]) of \(count)")
        }
    }

    @Test func theTextIsFoundationsUUIDString() {
        for id in (0..<10_000).map({ _ in UUID.newEventID() }) + [
            UUID(), UUID(uuid: (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)),
        ] {
            #expect(id.text == id.uuidString)
        }
        #expect(
            UUID(uuidString: "0123ABCD-EF01-4567-89AB-CDEF01234567")?.text == "0123ABCD-EF01-4567-89AB-CDEF01234567")
    }

    @Test func twoGeneratorsStartFromDifferentStates() {
        var first = EventIDGenerator()
        var second = EventIDGenerator()
        #expect((0..<4).map { _ in first.next() } != (0..<4).map { _ in second.next() })
    }
}
