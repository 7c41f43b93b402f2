import SharedEvents
@testable import Master
import Testing

/// The aggregation rule: highest running total per (code, replica, epoch); a link's clicks are
/// the sum of those.
@Suite struct ClickTallyTests {
    private func event(_ code: String, _ replica: String, _ epoch: String, _ total: Int64) -> ClickCountEvent {
        ClickCountEvent(code: code, replicaID: replica, replicaEpoch: epoch, total: total)
    }

    private func clicks(of code: String, in tally: ClickTally) -> Int64 {
        tally.highest.filter { $0.key.code == code }.values.reduce(0, +)
    }

    /// Replica a counted 250 clicks of x, replica b 150; b's Redis was wiped after 40 and it counted 30 more.
    private let history = [
        ("x", "a", "e1", Int64(100)), ("x", "a", "e1", 200), ("x", "a", "e1", 250),
        ("x", "b", "e1", 100), ("x", "b", "e1", 120),
        ("x", "b", "e2", 30),
        ("y", "a", "e1", 7),
    ]

    @Test func keepsTheHighestTotalPerReplicaAndEpochAndSumsThem() {
        var tally = ClickTally()
        for (code, replica, epoch, total) in history { tally.record(event(code, replica, epoch, total)) }
        #expect(clicks(of: "x", in: tally) == 250 + 120 + 30)
        #expect(clicks(of: "y", in: tally) == 7)
        #expect(tally.highest.count == 4)
    }

    @Test func duplicatesAndReorderingChangeNothing() {
        var inOrder = ClickTally()
        for (code, replica, epoch, total) in history { inOrder.record(event(code, replica, epoch, total)) }
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<50 {
            // Every event delivered one to three times, in any order.
            let deliveries = history.flatMap { Array(repeating: $0, count: Int.random(in: 1...3)) }
                .shuffled(using: &generator)
            var tally = ClickTally()
            for (code, replica, epoch, total) in deliveries { tally.record(event(code, replica, epoch, total)) }
            #expect(tally == inOrder)
        }
    }

    @Test func anOlderTotalNeverLowersAStoredOne() {
        var tally = ClickTally()
        tally.record(event("x", "a", "e1", 300))
        tally.record(event("x", "a", "e1", 100))
        #expect(clicks(of: "x", in: tally) == 300)
        // A new epoch is a new counter, added rather than compared.
        tally.record(event("x", "a", "e2", 5))
        #expect(clicks(of: "x", in: tally) == 305)
    }
}
