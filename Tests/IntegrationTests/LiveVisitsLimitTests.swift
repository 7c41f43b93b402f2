import Logging
import TestSupport
import Testing

@testable import Master

/// The live visit streams' limits, on a tail of a real visits topic: no more than the
/// master's maximum at once, and no more than its share for one API key, so that one key
/// cannot take every stream from the others.
@Suite struct LiveVisitsLimitTests {
    /// Live visits as the master makes them, on a fresh namespace's visits topic.
    static func live(maximumStreams: Int, perOwner: Int) async throws -> LiveVisits {
        LiveVisits.following(
            try await TestStack.makeNamespace(), brokers: try TestStack.kafkaBrokers,
            clientSettings: try TestStack.kafkaClients[.masterVisits], maximumStreams: maximumStreams,
            maximumStreamsPerOwner: perOwner, logger: TestStack.logger)
    }

    @Test func oneKeyCannotHoldEveryStreamAndAPlaceFreedIsTakenAgain() async throws {
        let live = try await Self.live(maximumStreams: 3, perOwner: 2)
        try await withRunningServices([live]) { () async throws in
            // Held here: a stream nobody holds ends, and frees its place.
            var open = [try await live.subscribe(key: "a", owner: "key-1", drop: {})]
            open.append(try await live.subscribe(key: "b", owner: "key-1", drop: {}))
            await #expect(throws: LiveVisits.OwnerFull.self) {
                try await live.subscribe(key: "c", owner: "key-1", drop: {})
            }
            open.append(try await live.subscribe(key: "a", owner: "key-2", drop: {}))
            await #expect(throws: LiveVisits.Full.self) { try await live.subscribe(key: "a", owner: "key-3", drop: {}) }
            await #expect(throws: LiveVisits.Full.self) { try await live.subscribe(key: "a", owner: nil, drop: {}) }
            live.unsubscribe(open.removeFirst().id)
            open.append(try await live.subscribe(key: "c", owner: "key-1", drop: {}))
            #expect(live.streamCount == 3)
        }
    }

    @Test func withoutKeysOnlyTheMaximumCounts() async throws {
        let live = try await Self.live(maximumStreams: 3, perOwner: 1)
        try await withRunningServices([live]) { () async throws in
            var open: [LiveVisits.Stream] = []
            for _ in 0..<3 { open.append(try await live.subscribe(key: "a", owner: nil, drop: {})) }
            await #expect(throws: LiveVisits.Full.self) { try await live.subscribe(key: "a", owner: nil, drop: {}) }
            #expect(open.count == live.streamCount)
        }
    }
}
