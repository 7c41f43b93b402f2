import Foundation
import SharedEvents
import SharedService
@testable import Master
import Testing
import SharedLinks

/// The aggregation rule: highest running total per (code, replica, epoch); a link's clicks are
/// the sum of those.
@Suite struct ClickTallyTests {
    private func event(_ code: String, _ replica: String, _ epoch: String, _ total: Int64) -> ClickCountEvent {
        ClickCountEvent(LinkAddress(code: code), replicaID: replica, replicaEpoch: epoch, total: total)
    }

    private func clicks(of code: String, in tally: ClickTally) -> Int64 {
        tally.highest.filter { $0.key.linkKey == code }.values.reduce(0, +)
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

/// The breakdowns follow the totals' rule: the highest running total per value counts.
@Suite struct ClickTallyBreakdownTests {
    @Test func keepsTheHighestTotalPerValueAndKind() {
        var tally = ClickTally()
        let early = ClickCountEvent(
            LinkAddress(code: "c"), replicaID: "a", replicaEpoch: "e", total: 3,
            humans: ClickBreakdown([.referrer: ["t.co": 2], .hour: ["2026112717": 2]]),
            bots: ClickBreakdown([.device: ["bot": 1]]))
        let later = ClickCountEvent(
            LinkAddress(code: "c"), replicaID: "a", replicaEpoch: "e", total: 5,
            humans: ClickBreakdown([.referrer: ["t.co": 3, "direct": 1], .hour: ["2026112717": 4]]),
            bots: ClickBreakdown([.device: ["bot": 1]]))
        for event in [later, early, later] { tally.record(event) }
        let counter = ClickTally.Counter(linkKey: "c", replicaID: "a", replicaEpoch: "e")
        #expect(tally.highest == [counter: 5])
        #expect(tally.breakdowns[.init(counter: counter, dimension: .referrer, value: "t.co", bot: false)] == 3)
        #expect(tally.breakdowns[.init(counter: counter, dimension: .referrer, value: "direct", bot: false)] == 1)
        #expect(tally.breakdowns[.init(counter: counter, dimension: .hour, value: "2026112717", bot: false)] == 4)
        #expect(tally.breakdowns[.init(counter: counter, dimension: .device, value: "bot", bot: true)] == 1)
        #expect(tally.breakdowns.count == 4)
    }
}

/// The stats window and the top values.
@Suite struct StatsWindowTests {
    @Test func windowsAreCheckedAndBounded() throws {
        let now = Date()
        let (from, to) = try StatsController.window(
            from: nil, to: nil, defaultFrom: now.addingTimeInterval(-86_400 * 5000), granularity: .day)
        #expect(to.timeIntervalSince(from) <= 86_400 * Double(StatsController.maximumDays))
        for (from, to) in [
            ("2026-01-02T00:00:00Z", "2026-01-01T00:00:00Z"), ("yesterday", nil), ("1900-01-01T00:00:00Z", nil),
        ] as [(String, String?)] {
            #expect(throws: APIError.self) {
                try StatsController.window(from: from, to: to, defaultFrom: now, granularity: .day)
            }
        }
        #expect(throws: APIError.self) {
            try StatsController.window(
                from: "2025-01-01T00:00:00Z", to: "2026-01-01T00:00:00Z", defaultFrom: now, granularity: .hour)
        }
        _ = try StatsController.window(
            from: "2025-01-01T00:00:00Z", to: "2026-01-01T00:00:00Z", defaultFrom: now, granularity: .day)
    }

    @Test func theTopValuesAreFollowedByTheirOther() {
        let values =
            (0..<15).map { ClickStatistics.Value(value: "v\($0)", clicks: Int64($0 + 1)) }
            + [ClickStatistics.Value(value: "other", clicks: 100)]
        let top = ClickStatistics.top(values)
        #expect(top.count == ClickStatistics.topValues + 1)
        #expect(top.first?.value == "v14" && top.last?.value == "other")
        #expect(top.reduce(0) { $0 + $1.clicks } == values.reduce(0) { $0 + $1.clicks })
    }
}
