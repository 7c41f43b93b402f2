import Foundation
import NIOConcurrencyHelpers
import SharedEvents
import SharedKafka
import SharedRedis
import TestSupport
import Testing
@testable import Replica

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
                        LinkEvent.created(code: "w\(index)", url: "https://e.com/\(index)", expiresAt: nil)),
                    headers: [])
            }
            try await store.apply(messages, deadLetters: deadLetters)
        }
        // Caught up, as the consumer records it: the links are served.
        #expect(try await store.finishRebuild())
        #expect(try await store.resolve("w\(count - 1)") == .redirect("https://e.com/\(count - 1)"))

        let wiping = NIOLockedValueBox(true)
        let visits = Task {
            var answered = 0
            var slowest = Duration.zero
            var outcomes = Set<String>()
            let codes = ["w0", "w50000", "w99999", "never-was"]
            while wiping.withLockedValue({ $0 }) {
                let start = ContinuousClock.now
                do {
                    switch try await store.resolve(codes[answered % codes.count]) {
                    case .redirect: outcomes.insert("redirect")
                    case .rebuilding: outcomes.insert("rebuilding")
                    case .notFound: outcomes.insert("unknown")
                    case .gone: outcomes.insert("gone")
                    }
                } catch is RedisStateLost {
                    break  // the wipe's last step: the replica now rebuilds from zero
                }
                slowest = max(slowest, ContinuousClock.now - start)
                answered += 1
            }
            return (answered, slowest, outcomes)
        }
        let removed = try await store.wipe()
        wiping.withLockedValue { $0 = false }
        let (answered, slowest, outcomes) = try await visits.value
        #expect(removed == count)
        #expect(answered >= 20, "only \(answered) redirects were answered during the wipe")
        #expect(slowest < .milliseconds(250), "a redirect waited \(slowest) for the wipe")
        #expect(!outcomes.contains("unknown"), "a link being reloaded answered 404: \(outcomes)")
        await #expect(throws: RedisStateLost.self) { try await store.resolve("w0") }
    }
}
