import Foundation
import SharedConfiguration
import SharedEvents
import SharedKafka
import SharedRedis
import TestSupport
import Testing
@testable import Replica
import SharedLinks

/// `connection` behind a breaker of its own, as the replica uses it.
func guarded(_ connection: RedisConnection) -> GuardedRedis {
    GuardedRedis(connection, breaker: .redis(logger: TestStack.logger))
}

extension LinkStore {
    /// Where a code goes now (the visit is counted, which these tests do not look at).
    func resolve(_ code: String) async throws -> Resolution { try await visit(code).resolution }

    /// A visit from a desktop browser with no referrer, from no known country.
    func visit(_ code: String) async throws -> Visit {
        try await visit(
            code,
            attributes: ClickAttributes(
                hour: ClickAttributes.hour(of: Date()), referrer: ReferrerHost.direct, country: CountryLookup.unknown,
                client: .init(device: "desktop", browser: "Firefox", os: "Linux")))
    }
}

/// The replica's consumer: topic → Redis → redirect lookups, against the dev broker and Redis.
@Suite struct ReplicaConsumerTests {
    func publish(_ events: [LinkEvent], to namespace: Namespace) async throws {
        let producer = try KafkaProducer(
            settings: .init(bootstrapServers: try TestStack.kafkaBrokers),
            logger: TestStack.logger)
        try await withRunningServices([producer]) {
            // Enqueued in order (one code's events keep it), then their acknowledgements awaited.
            let deliveries = try events.map { event in
                try producer.enqueue(
                    topic: namespace.linksTopic, key: event.address.key, value: EventCodec.encode(event))
            }
            for delivery in deliveries { _ = try await delivery.value() }
        }
    }

    /// Runs one replica's link feed, as the replica composes it, until `done` holds; returns how
    /// many messages it applied (by the offsets it stored in Redis).
    func consume(
        _ namespace: Namespace, store: LinkStore, until done: @escaping @Sendable () async throws -> Bool
    )
        async throws -> Int
    {
        let before = try await store.startOffsets().values.reduce(0, +)
        let feed = try LinkFeed(
            namespace: namespace, replicaID: "a", kafkaBrokers: try TestStack.kafkaBrokers,
            clients: try TestStack.kafkaClients, store: store, kafka: .kafka(logger: TestStack.logger),
            logger: TestStack.logger)
        try await withRunningServices([feed.producer, feed.consumer]) {
            let finished = try await eventually(done)
            #expect(finished)
            #expect(await eventually { feed.consumer.isCaughtUp })
        }
        return Int(try await store.startOffsets().values.reduce(0, +) - before)
    }

    @Test func readsFromZeroOnFirstStartAndResumesAfterARestart() async throws {
        let namespace = try await TestStack.makeNamespace()
        let redis = RedisConnection(host: "127.0.0.1", port: try TestStack.redisPorts[0], logger: TestStack.logger)
        defer { redis.close() }
        let store = LinkStore(redis: guarded(redis), namespace: namespace)

        // Published before the replica ever ran: the first start reads them from offset zero.
        let first = (0..<30).map {
            LinkEvent.created(LinkAddress(code: "first\($0)"), url: "https://e.com/\($0)", expiresAt: nil)
        }
        try await publish(first, to: namespace)
        let handledFirst = try await consume(namespace, store: store) {
            (try? await store.resolve("first29")) == .redirect("https://e.com/29", .standard)
        }
        #expect(handledFirst == 30)
        for event in first { #expect(try await store.resolve(event.code) == .redirect(event.url!, .standard)) }
        #expect(try await store.resolve("unknown") == .notFound)

        // While it is stopped: more links, a deletion, an expired link and a poison message.
        var second = (0..<10).map {
            LinkEvent.created(LinkAddress(code: "second\($0)"), url: "https://e.com/s\($0)", expiresAt: nil)
        }
        second.append(.deleted(LinkAddress(code: "first0"), revision: 2))
        second.append(
            .created(LinkAddress(code: "expired"), url: "https://e.com/old", expiresAt: Date(timeIntervalSinceNow: -1)))
        try await publish(second, to: namespace)
        let poison = try KafkaProducer(
            settings: .init(bootstrapServers: try TestStack.kafkaBrokers), logger: TestStack.logger)
        _ = try await withRunningServices([poison]) {
            try await poison.send(topic: namespace.linksTopic, key: "junk", value: Array("not an event".utf8))
        }
        // A re-delivered old creation must not resurrect the deleted link.
        try await publish(
            [.created(LinkAddress(code: "first0"), url: "https://e.com/0", expiresAt: nil)], to: namespace)

        let handledSecond = try await consume(namespace, store: store) {
            let deleted = try await store.resolve("first0") == .gone
            let added = try await store.resolve("second9") == .redirect("https://e.com/s9", .standard)
            return deleted && added
        }
        #expect(handledSecond == second.count + 2, "a restart must resume, not re-read everything")
        #expect(try await store.resolve("first0") == .gone)
        #expect(try await store.resolve("expired") == .gone)
        #expect(try await store.resolve("first1") == .redirect("https://e.com/1", .standard))
    }

    @Test func rebuildsFromZeroWhenItsRedisLostTheData() async throws {
        let namespace = try await TestStack.makeNamespace()
        let redis = RedisConnection(host: "127.0.0.1", port: try TestStack.redisPorts[1], logger: TestStack.logger)
        defer { redis.close() }
        let store = LinkStore(redis: guarded(redis), namespace: namespace)
        let events = (0..<20).map {
            LinkEvent.created(LinkAddress(code: "w\($0)"), url: "https://e.com/w\($0)", expiresAt: nil)
        }
        try await publish(events, to: namespace)
        _ = try await consume(namespace, store: store) { (try? await store.resolve("w19")) ?? .notFound != .notFound }

        // Wipe only this namespace's keys (other tests share the server).
        let keys = try await redis.send(["KEYS", namespace.redisKey("*")]).array?.compactMap(\.string) ?? []
        _ = try await redis.send(["DEL"] + keys)
        await #expect(throws: RedisStateLost.self, "a wiped Redis must not answer 'not found'") {
            try await store.resolve("w0")
        }

        let handled = try await consume(namespace, store: store) {
            (try? await store.resolve("w19")) ?? .notFound != .notFound
        }
        #expect(handled == 20)
        for event in events { #expect(try await store.resolve(event.code) == .redirect(event.url!, .standard)) }
    }

    /// A new namespace's store and click ledger on a connection of their own (closed by the
    /// caller), with `links` consumed into Redis.
    private func countingStore(_ links: [LinkEvent]) async throws -> (RedisConnection, LinkStore, ClickLedger) {
        let namespace = try await TestStack.makeNamespace()
        let redis = RedisConnection(host: "127.0.0.1", port: try TestStack.redisPorts[0], logger: TestStack.logger)
        let store = LinkStore(redis: guarded(redis), namespace: namespace)
        try await publish(links, to: namespace)
        _ = try await consume(namespace, store: store) {
            try await redis.send(["EXISTS", store.keys.link(links.last!.code)]).integer == 1
        }
        return (redis, store, ClickLedger(redis: store.redis, namespace: namespace))
    }

    @Test func visitsCountClicksAndReachAMilestoneEveryHundred() async throws {
        let (redis, store, ledger) = try await countingStore([
            .created(LinkAddress(code: "m"), url: "https://e.com/m", expiresAt: nil),
            .created(LinkAddress(code: "old"), url: "https://e.com/old", expiresAt: Date(timeIntervalSinceNow: -1)),
        ])
        defer { redis.close() }

        var milestones: [ClickMilestone] = []
        for _ in 0..<250 {
            let visit = try await store.visit("m")
            #expect(visit.resolution == .redirect("https://e.com/m", .standard))
            if let milestone = visit.milestone { milestones.append(milestone) }
        }
        #expect(milestones.map(\.total) == [100, 200])
        #expect(Set(milestones.map(\.epoch)).count == 1)
        // Unknown, expired and malformed-free misses are not counted.
        #expect(try await store.visit("nope") == .init(resolution: .notFound))
        #expect(try await store.visit("old") == .init(resolution: .gone))

        let pending = try #require(try await ledger.pending(limit: 100))
        let epoch = milestones[0].epoch
        let whole = ClickBreakdown([
            .hour: [ClickAttributes.hour(of: Date()): 250], .referrer: ["direct": 250], .country: ["unknown": 250],
            .device: ["desktop": 250], .browser: ["Firefox": 250], .os: ["Linux": 250],
        ])
        #expect(
            pending == .init(totals: [.init(epoch: epoch, linkKey: "m", total: 250, humans: whole)], retired: false),
            "the clicks and where they came from, read together (unless the hour turned meanwhile)")
        // A click after the report was read keeps the code unreported: 250 is no longer current.
        _ = try await store.visit("m")
        #expect(try await ledger.settle(pending.totals, retired: false) == 0)
        #expect(try await ledger.settle([.init(epoch: epoch, linkKey: "m", total: 251)], retired: false) == 1)
        #expect(try await ledger.pending(limit: 100) == nil)
        // An acknowledgement from another epoch settles nothing.
        _ = try await store.visit("m")
        #expect(try await ledger.settle([.init(epoch: "other", linkKey: "m", total: 252)], retired: false) == 0)
        #expect(try await ledger.unreportedCount() == 1)
    }

    @Test func anEpochEndedByARedisRestartLeavesNoStatsBehindOnceReported() async throws {
        let (redis, store, ledger) = try await countingStore([
            .created(LinkAddress(code: "a"), url: "https://e.com/a", expiresAt: nil),
            .created(LinkAddress(code: "b"), url: "https://e.com/b", expiresAt: nil),
        ])
        defer { redis.close() }
        func exists(_ key: String) async throws -> Bool { try await redis.send(["EXISTS", key]).integer == 1 }

        for code in ["a", "a", "b"] { _ = try await store.visit(code) }
        let reported = try #require(try await ledger.pending(limit: 100))
        let first = try #require(reported.totals.first?.epoch)
        #expect(try await ledger.settle(reported.totals, retired: false) == 2)
        _ = try await store.visit("b")  // b moves again: unreported when Redis "restarts"
        #expect(try await exists(store.keys.stats(epoch: first, code: "a")))
        #expect(try await exists(store.keys.stats(epoch: first, code: "b")))

        // The data now looks written by another Redis process (a restore from a snapshot).
        #expect(try await ledger.rotateEpochIfRedisRestarted(runID: "first") == false)
        #expect(try await ledger.rotateEpochIfRedisRestarted(runID: "second") == true)
        // a's totals were reported: its stats go. b's retired total waits for its report: they stay.
        #expect(try await ledger.dropRetiredStats(steps: 10_000) == 1)
        #expect(try await !exists(store.keys.stats(epoch: first, code: "a")))
        #expect(try await exists(store.keys.stats(epoch: first, code: "b")))
        #expect(try await redis.send(["EXISTS", store.keys.retiredEpochs]).integer == 0, "the scan is done")

        let retired = try #require(try await ledger.pending(limit: 100))
        #expect(retired.retired && retired.totals.map(\.linkKey) == ["b"] && retired.totals.first?.total == 2)
        #expect(try await ledger.settle(retired.totals, retired: true) == 1)
        #expect(try await !exists(store.keys.stats(epoch: first, code: "b")))

        // The new epoch counts and keeps its stats as before.
        _ = try await store.visit("a")
        let current = try #require(try await ledger.pending(limit: 100))
        let second = try #require(current.totals.first?.epoch)
        #expect(second != first && !current.retired && current.totals.first?.total == 1)
        #expect(try await exists(store.keys.stats(epoch: second, code: "a")))
        #expect(try await ledger.dropRetiredStats(steps: 10) == 0)
    }
}
