import Foundation
import SharedEvents
import SharedKafka
import SharedLinks
import SharedRedis
import TestSupport
import Testing
@testable import Replica

/// A links topic written by the version before domains, redirect options and campaigns, read by
/// this version's replica: every old link lands on the default domain with the default options,
/// beside the newer events that follow it in the same topic.
@Suite struct UpgradeTests {
    /// Messages as the previous version wrote them, byte for byte: keyed by the bare code, no
    /// `domain`, no redirect options, no `utm`.
    static let previousVersion: [(key: String, value: String)] = [
        (
            "old1",
            #"{"code":"old1","event_id":"6F1C2B3A-4D5E-4F60-8A7B-9C0D1E2F3A4B","occurred_at":"2026-11-20T10:00:00.000Z","revision":1,"tags":["launch"],"type":"link.created","url":"https:\/\/example.com\/old1","version":1}"#
        ),
        (
            "old2",
            #"{"code":"old2","event_id":"7A2D3C4B-5E6F-4071-9B8C-0D1E2F3A4B5C","expires_at":"2099-01-01T00:00:00.000Z","max_clicks":50,"occurred_at":"2026-11-20T10:00:01.000Z","revision":1,"tags":[],"type":"link.created","url":"https:\/\/example.com\/old2?a=1","version":1}"#
        ),
        (
            "old3",
            #"{"code":"old3","event_id":"8B3E4D5C-6F70-4182-AC9D-1E2F3A4B5C6D","occurred_at":"2026-11-20T10:00:02.000Z","revision":1,"tags":[],"type":"link.created","url":"https:\/\/example.com\/old3","version":1}"#
        ),
        (
            "old3",
            #"{"code":"old3","event_id":"9C4F5E6D-7081-4293-BDAE-2F3A4B5C6D7E","occurred_at":"2026-11-21T10:00:00.000Z","revision":2,"type":"link.deleted","version":1}"#
        ),
    ]

    @Test func aTopicOfThePreviousVersionReplaysOntoTheDefaultDomain() async throws {
        let namespace = try await TestStack.makeNamespace()
        let redis = RedisConnection(host: "127.0.0.1", port: try TestStack.redisPorts[0], logger: TestStack.logger)
        defer { redis.close() }
        let store = LinkStore(redis: guarded(redis), namespace: namespace)
        let producer = try KafkaProducer(
            settings: .init(bootstrapServers: try TestStack.kafkaBrokers), logger: TestStack.logger)
        // The old messages, then what this version writes: a domain and a link on it with the same code.
        let onDomain = LinkEvent.created(
            LinkAddress(domain: "go.example", code: "old1"), url: "https://example.com/new", expiresAt: nil,
            redirect: RedirectOptions(status: .temporaryRedirect))
        let domain = DomainEvent.updated("go.example", revision: 1, rootURL: nil, notFoundURL: nil, expiredURL: nil)
        try await withRunningServices([producer]) {
            var deliveries = try Self.previousVersion.map { message in
                try producer.enqueue(topic: namespace.linksTopic, key: message.key, value: Array(message.value.utf8))
            }
            deliveries.append(
                try producer.enqueue(
                    topic: namespace.linksTopic, key: DomainEvent.messageKey("go.example"),
                    value: EventCodec.encode(domain)))
            deliveries.append(
                try producer.enqueue(
                    topic: namespace.linksTopic, key: onDomain.address.key, value: EventCodec.encode(onDomain)))
            for delivery in deliveries { _ = try await delivery.value() }
        }

        let applied = try await ReplicaConsumerTests().consume(namespace, store: store) {
            (try? await store.resolve("go.example/old1"))
                == .redirect(
                    "https://example.com/new", RedirectOptions(status: .temporaryRedirect))
        }
        #expect(applied == 6, "every message applied, none dead-lettered")
        #expect(try await store.resolve("old1") == .redirect("https://example.com/old1", .standard))
        #expect(try await store.resolve("old2") == .redirect("https://example.com/old2?a=1", .standard))
        #expect(try await store.resolve("old3") == .gone)
        #expect(store.domains.resolve(hostHeader: "go.example") == .domain("go.example"))
        #expect(store.domains.resolve(hostHeader: "localhost") == .domain(nil))
    }
}
