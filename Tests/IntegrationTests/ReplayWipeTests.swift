import Foundation
import NIOConcurrencyHelpers
import SharedEvents
import SharedKafka
import SharedRedis
import TestSupport
import Testing
@testable import Replica
import SharedLinks

/// `replica replay` removes a replica's links without stopping its Redis: redirects go on
/// being answered while a hundred thousand links are removed, and none answers "unknown".
@Suite struct ReplayWipeTests {
    @Test func wipingAHundredThousandLinksKeepsRedirectsAnswering() async throws {
        let namespace = try await TestStack.makeNamespace()
        let redis = RedisConnection(host: "127.0.0.1", port: try TestStack.redisPorts[1], logger: TestStack.logger)
        defer { redis.close() }
        let store = LinkStore(redis: guarded(redis), namespace: namespace)
        let deadLetters = try DeadLetterQueue.test(namespace, group: namespace.replicaGroup(replicaID: "w"))
        _ = try await store.startOffsets()
        let count = 100_000
        for start in stride(from: 0, to: count, by: 1000) {
            let messages = (start..<start + 1000).map { index in
                KafkaMessage(
                    topic: namespace.linksTopic, partition: 0, offset: Int64(index), key: nil,
                    value: EventCodec.encode(
                        LinkEvent.created(LinkAddress(code: "w\(index)"), url: "https://e.com/\(index)", expiresAt: nil)
                    ),
                    headers: [])
            }
            try await store.apply(messages, deadLetters: deadLetters)
        }
        // Caught up, as the consumer records it: the links are served.
        #expect(try await store.finishRebuild())
        #expect(try await store.resolve("w\(count - 1)") == .redirect("https://e.com/\(count - 1)", .standard))

        let wiping = NIOLockedValueBox(true)
        let visits = Task {
            var answered = 0
            var midWipe = 0
            var outcomes = Set<String>()
            let codes = ["w0", "w50000", "w99999", "never-was"]
            while wiping.withLockedValue({ $0 }) {
                do {
                    switch try await store.resolve(codes[answered % codes.count]) {
                    case .redirect: outcomes.insert("redirect")
                    case .rebuilding:
                        // Only while the wipe is under way: the code is gone, the marker not yet.
                        outcomes.insert("rebuilding")
                        midWipe += 1
                    case .notFound: outcomes.insert("unknown")
                    case .gone: outcomes.insert("gone")
                    case .decide, .locked: outcomes.insert("routed or locked")
                    }
                } catch is RedisStateLost {
                    break  // the wipe's last step: the replica now rebuilds from zero
                }
                answered += 1
            }
            return (answered, midWipe, outcomes)
        }
        let removed = try await store.wipe()
        wiping.withLockedValue { $0 = false }
        let (answered, midWipe, outcomes) = try await visits.value
        #expect(removed == count)
        // The wipe goes in a hundred steps, and redirects are answered between them: one long
        // call would leave at most a moment between its end and the marker's removal.
        #expect(midWipe >= 20, "only \(midWipe) of \(answered) redirects were answered between the wipe's steps")
        #expect(!outcomes.contains("unknown"), "a link being reloaded answered 404: \(outcomes)")
        await #expect(throws: RedisStateLost.self) { try await store.resolve("w0") }
    }
}
