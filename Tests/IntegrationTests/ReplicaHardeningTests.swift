import Foundation
import SharedConfiguration
import SharedEvents
import SharedKafka
import SharedRedis
import TestSupport
import Testing
@testable import Replica
import SharedLinks

/// What an attacker or a fault could do to a replica's Redis, tried against a real Redis and
/// the dev broker: a flood of invented referrers, and a rebuild racing a deletion.
extension ReplicaConsumerTests {
    /// A click on a desktop Firefox with `referrer` as its referrer host.
    private static func click(from referrer: String) -> ClickAttributes {
        ClickAttributes(
            hour: ClickAttributes.hour(of: Date()), referrer: referrer, country: CountryLookup.unknown,
            client: .init(device: "desktop", browser: "Firefox", os: "Linux"))
    }

    @Test func aFloodOfDistinctReferrersKeepsRedisBoundedFastAndExact() async throws {
        // A Redis of its own: its slow log then holds only this test's commands.
        let server = try await PrivateRedis()
        defer { server.remove() }
        let redis = RedisConnection(host: "127.0.0.1", port: server.port, logger: TestStack.logger)
        defer { redis.close() }
        // Every command over 300 ms: before the cap moved into the visit, the report's fold of
        // this flood took 930 ms. A visit's script takes about a millisecond, but a Redis that
        // loses its core to other processes (two busy loops beside the tests) logged one at 72 ms.
        _ = try await redis.send(["CONFIG", "SET", "slowlog-log-slower-than", "300000"])
        _ = try await redis.send(["SLOWLOG", "RESET"])
        let namespace = try await TestStack.makeNamespace()
        let store = LinkStore(redis: guarded(redis), namespace: namespace, maximumValues: 100)
        let ledger = ClickLedger(redis: store.redis, namespace: namespace, maximumValues: 100)
        try await publish([.created(LinkAddress(code: "flood"), url: "https://e.com/f", expiresAt: nil)], to: namespace)
        _ = try await consume(namespace, store: store) { try await store.resolve("flood") != .rebuilding }
        _ = try await ledger.settle(try #require(try await ledger.pending(limit: 25)).totals, retired: false)

        // 50,000 clicks, each from a referrer host never seen before, 4 at a time, with no report
        // in between (as with the broker down).
        let clicks = 50_000
        let lanes = 4
        let redirects = try await withThrowingTaskGroup(of: Int.self) { group in
            for lane in 0..<lanes {
                group.addTask {
                    var redirected = 0
                    for index in stride(from: lane, to: clicks, by: lanes) {
                        let visit = try await store.visit(
                            "flood", attributes: Self.click(from: "r\(index).attacker.example"))
                        if case .redirect = visit.resolution { redirected += 1 }
                    }
                    return redirected
                }
            }
            return try await group.reduce(0, +)
        }
        #expect(redirects == clicks)
        let epoch = try #require(try await redis.send(["GET", store.keys.epoch]).string)
        let freshFields = try await redis.send(["HLEN", store.keys.fresh(epoch: epoch, code: "flood")]).integer
        #expect(freshFields == Int64(ClickLedger.maximumFreshFields), "the fresh hash stays at its bound")

        let pending = try #require(try await ledger.pending(limit: 25))
        let total = try #require(pending.totals.first { $0.linkKey == "flood" })
        #expect(total.total == Int64(clicks + 1))
        let referrers = total.humans.values[.referrer] ?? [:]
        #expect(referrers.count == 101, "100 referrer hosts and 'other'")
        #expect(referrers.values.reduce(0, +) == Int64(clicks + 1), "every click is counted under some referrer")
        #expect(referrers["other"] == Int64(clicks + 1 - 100))
        for dimension in [ClickBreakdown.Dimension.country, .device, .browser, .os] {
            #expect(total.humans.values[dimension]?.values.reduce(0, +) == Int64(clicks + 1), "\(dimension)")
        }
        let statsFields = try await redis.send(["HLEN", store.keys.stats(epoch: epoch, code: "flood")]).integer ?? 0
        #expect(statsFields < 120, "the stats hash stays at the cap: \(statsFields) fields")
        let slow = try await redis.send(["SLOWLOG", "GET", "10"]).array ?? []
        #expect(slow.isEmpty, "no Redis command took over 300 ms: \(slow)")
    }

    @Test func concurrentVisitsShareScriptCallsAndEachIsDecidedExactly() async throws {
        // A Redis of its own: its command statistics then count only this test's calls.
        let server = try await PrivateRedis()
        defer { server.remove() }
        let redis = RedisConnection(host: "127.0.0.1", port: server.port, logger: TestStack.logger)
        defer { redis.close() }
        let namespace = try await TestStack.makeNamespace()
        let store = LinkStore(redis: guarded(redis), namespace: namespace)
        let ledger = ClickLedger(redis: store.redis, namespace: namespace)
        try await publish(
            [
                .created(LinkAddress(code: "capped"), url: "https://e.com/c", expiresAt: nil, maxClicks: 150),
                .created(LinkAddress(code: "plain"), url: "https://e.com/p", expiresAt: nil),
                .created(LinkAddress(code: "old"), url: "https://e.com/o", expiresAt: Date(timeIntervalSinceNow: -1)),
                .created(LinkAddress(code: "doomed"), url: "https://e.com/d", expiresAt: nil),
                .deleted(LinkAddress(code: "doomed"), revision: 2),
            ], to: namespace)
        _ = try await consume(namespace, store: store) { try await store.resolve("doomed") == .gone }
        _ = try await redis.send(["CONFIG", "RESETSTAT"])

        // 1,000 visits at once, mixed: a batch holds links of every kind.
        let codes = ["capped", "plain", "nope", "old", "doomed"]
        let answers = try await withThrowingTaskGroup(of: (String, LinkStore.Resolution).self) { group in
            for index in 0..<1_000 {
                let code = codes[index % codes.count]
                group.addTask { (code, try await store.resolve(code)) }
            }
            return try await group.reduce(into: [String: [LinkStore.Resolution]]()) {
                $0[$1.0, default: []].append($1.1)
            }
        }
        #expect(answers["capped"]?.filter { $0 == .redirect("https://e.com/c", .standard) }.count == 150)
        #expect(answers["capped"]?.filter { $0 == .gone }.count == 50, "past its 150 clicks, gone")
        #expect(answers["plain"]?.allSatisfy { $0 == .redirect("https://e.com/p", .standard) } == true)
        #expect(answers["nope"]?.allSatisfy { $0 == .notFound } == true)
        #expect(answers["old"]?.allSatisfy { $0 == .gone } == true)
        #expect(answers["doomed"]?.allSatisfy { $0 == .gone } == true)
        let stats = try await redis.send(["INFO", "commandstats"]).string ?? ""
        let calls = stats.split(separator: "\r\n").first { $0.hasPrefix("cmdstat_evalsha:") }
            .flatMap { $0.split(separator: "=").dropFirst().first?.split(separator: ",").first }
            .flatMap { Int($0) }
        let scriptCalls = try #require(calls, "\(stats)")
        print("ReplicaHardeningTests: 1000 visits in \(scriptCalls) script calls")
        #expect(scriptCalls < 500, "visits waiting for a call in flight go together")
        let pending = try #require(try await ledger.pending(limit: 10))
        let totals = Dictionary(uniqueKeysWithValues: pending.totals.map { ($0.linkKey, $0.total) })
        #expect(totals["capped"] == 150 && totals["plain"] == 200, "\(totals)")
    }

    @Test func aRebuildingReplicaNeverServesADeletedOrAnOldTarget() async throws {
        let namespace = try await TestStack.makeNamespace()
        let redis = RedisConnection(host: "127.0.0.1", port: try TestStack.redisPorts[1], logger: TestStack.logger)
        defer { redis.close() }
        let store = LinkStore(redis: guarded(redis), namespace: namespace)
        // A link, an edited link, then many others, then the deletion and the edit.
        var events: [LinkEvent] = [
            .created(LinkAddress(code: "phish"), url: "https://e.com/phish", expiresAt: nil),
            .created(LinkAddress(code: "moved"), url: "https://e.com/old", expiresAt: nil),
        ]
        events += (0..<20_000).map {
            LinkEvent.created(LinkAddress(code: "x\($0)"), url: "https://e.com/\($0)", expiresAt: nil)
        }
        events += [
            .deleted(LinkAddress(code: "phish"), revision: 2),
            .updated(
                LinkAddress(code: "moved"), revision: 2, url: "https://e.com/new", expiresAt: nil, maxClicks: nil,
                tags: []),
        ]
        try await publish(events, to: namespace)
        _ = try await consume(namespace, store: store) {
            try await store.resolve("moved") == .redirect("https://e.com/new", .standard)
        }
        #expect(try await store.resolve("phish") == .gone)

        // Redis loses the data (FLUSHALL of this namespace); the replica rebuilds from offset zero
        // while the links are visited all the time.
        let keys = try await redis.send(["KEYS", namespace.redisKey("*")]).array?.compactMap(\.string) ?? []
        _ = try await redis.send(["DEL"] + keys)
        let visiting = Task {
            var answers: [String] = []
            while !Task.isCancelled {
                for code in ["phish", "moved"] {
                    let answer: String
                    do {
                        answer = "\(code) \(try await store.resolve(code))"
                    } catch is RedisStateLost {
                        answer = "\(code) state lost"
                    }
                    if answers.last != answer { answers.append(answer) }
                }
            }
            return answers
        }
        _ = try await consume(namespace, store: store) { try await store.resolve("phish") == .gone }
        visiting.cancel()
        let answers = try await visiting.value
        #expect(answers.contains("phish rebuilding"), "the rebuild was visited: \(answers)")
        #expect(!answers.contains { $0.hasPrefix("phish redirect") }, "a deleted link came back: \(answers)")
        #expect(!answers.contains("moved redirect(\"https://e.com/old\")"), "an old target came back: \(answers)")
        #expect(try await store.resolve("moved") == .redirect("https://e.com/new", .standard))
    }

    @Test func aReplicaRestartedMidRebuildGoesOnServingNothingUntilItIsDone() async throws {
        let namespace = try await TestStack.makeNamespace()
        let redis = RedisConnection(host: "127.0.0.1", port: try TestStack.redisPorts[0], logger: TestStack.logger)
        defer { redis.close() }
        let first = LinkStore(redis: guarded(redis), namespace: namespace)
        #expect(try await first.startOffsets() == [:], "an empty Redis: rebuild from offset zero")
        let event = EventCodec.encode(LinkEvent.created(LinkAddress(code: "a"), url: "https://e.com/a", expiresAt: nil))
        let message = KafkaMessage(
            topic: namespace.linksTopic, partition: 0, offset: 0, key: Array("a".utf8), value: event)
        let deadLetters = try DeadLetterQueue.test(namespace, group: "g")
        try await first.apply([message], deadLetters: deadLetters)
        #expect(try await first.resolve("a") == .rebuilding)

        // The process restarts before it caught up: the Redis still says rebuilding.
        let second = LinkStore(redis: guarded(redis), namespace: namespace)
        #expect(try await second.startOffsets() == [0: 1], "it goes on from where the rebuild stood")
        #expect(try await second.resolve("a") == .rebuilding)
        #expect(try await !second.isComplete())
        #expect(try await second.finishRebuild())
        #expect(try await second.resolve("a") == .redirect("https://e.com/a", .standard))
        #expect(try await second.isComplete())

        // A Redis restored from an older snapshot serves nothing until the replica caught up again.
        try await second.startRebuild()
        #expect(try await second.resolve("a") == .rebuilding)
        #expect(try await second.startOffsets() == [0: 1], "the offsets it had are kept")
        #expect(try await second.finishRebuild())
        #expect(try await !second.finishRebuild(), "nothing to finish twice")
    }

    @Test func aStoredOffsetBeyondThePartitionsEndReadsItAgainFromTheBeginning() async throws {
        let namespace = try await TestStack.makeNamespace()
        let redis = RedisConnection(host: "127.0.0.1", port: try TestStack.redisPorts[1], logger: TestStack.logger)
        defer { redis.close() }
        let store = LinkStore(redis: guarded(redis), namespace: namespace)
        func publish(_ event: LinkEvent) async throws {
            let producer = try KafkaProducer(
                settings: .init(bootstrapServers: try TestStack.kafkaBrokers), logger: TestStack.logger)
            try await withRunningServices([producer]) {
                _ = try await producer.enqueue(
                    topic: namespace.linksTopic, partition: 0, key: Array(event.code.utf8),
                    value: EventCodec.encode(event),
                    headers: []
                ).value()
            }
        }
        try await publish(.created(LinkAddress(code: "before"), url: "https://e.com/before", expiresAt: nil))
        _ = try await consume(namespace, store: store) { try await store.resolve("before") != .rebuilding }
        // The replica applied offsets up to 50 of partition 0 that the broker then lost (a dev
        // broker killed before its journal had them): the partition ends at 1.
        let lost = KafkaMessage(
            topic: namespace.linksTopic, partition: 0, offset: 50, key: nil,
            value: EventCodec.encode(
                LinkEvent.created(LinkAddress(code: "lost"), url: "https://e.com/lost", expiresAt: nil)))
        try await store.apply([lost], deadLetters: try DeadLetterQueue.test(namespace, group: "g"))
        #expect(try await store.appliedOffsets()[0] == 51)
        // What is produced after the restart gets offsets from 1 on (the same the lost ones had,
        // and not only until the replica's next start): the replica must read them.
        try await publish(.created(LinkAddress(code: "after"), url: "https://e.com/after", expiresAt: nil))
        let applied = try await consume(namespace, store: store) {
            try await store.resolve("after") == .redirect("https://e.com/after", .standard)
        }
        #expect(applied < 0, "the stored offset went back below the partition's end")
        #expect(try await store.resolve("after") == .redirect("https://e.com/after", .standard))
    }
}
