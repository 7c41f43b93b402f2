import Foundation
import PostgresNIO
import ServiceLifecycle
import SharedConfiguration
import SharedKafka
import SharedRedis
import SharedResilience
import TestSupport
import Testing
@testable import Master
@testable import Outbox
@testable import Replica

/// Clicks counted on the replicas end up as exact totals on the master: real Postgres, Redis
/// and dev Kafka broker; replicas, relay and aggregator composed as their executables compose them.
@Suite struct ClickCountingTests {
    /// One namespace with the master's side running: the master and the outbox relay as their
    /// executables compose them.
    struct MasterSide {
        let namespace: Namespace
        let master: MasterApplication
        let outbox: OutboxApplication
        var client: PostgresClient { master.postgres }
        var repository: PostgresLinkRepository { master.repository }
        /// The master without its HTTP server (the tests create links through the repository) and the relay.
        var services: [any Service] { master.backgroundServices + outbox.services }

        init() async throws {
            namespace = try await TestStack.makeNamespace()
            master = try MasterApplication(configuration: .test(namespace), logger: TestStack.logger)
            outbox = try OutboxApplication(
                configuration: .test(namespace, relay: .init(pollInterval: .seconds(1), batchSize: 100)),
                logger: TestStack.logger)
        }

        func createLink(_ index: Int) async throws -> String {
            try await repository.create(try LinkRequest(url: "https://example.com/clicks/\(index)").validated()).code
        }

        func clicks(of code: String) async throws -> Int64? {
            try await repository.link(code)?.clicks
        }

        /// `(replica, epoch, total)` rows of one code.
        func counters(of code: String) async throws -> [String] {
            let rows = try await client.query(
                "SELECT replica_id, replica_epoch, total FROM click_counts WHERE link_key = \(code) ORDER BY 1, 2, 3",
                logger: TestStack.logger)
            var counters: [String] = []
            for try await (replica, epoch, total) in rows.decode((String, String, Int64).self) {
                counters.append("\(replica) \(epoch) \(total)")
            }
            return counters
        }

        /// Waits until every code's master total is the expected one; returns the codes that differ.
        func awaitTotals(_ expected: [String: Int64], timeout: Duration = .seconds(15)) async throws -> [String] {
            var differing: [String] = []
            _ = try await eventually(timeout: timeout) {
                differing = []
                for (code, clicks) in expected where try await self.clicks(of: code) != clicks {
                    differing.append("\(code): \(try await self.clicks(of: code) ?? -1) instead of \(clicks)")
                }
                return differing.isEmpty
            }
            return differing
        }
    }

    /// One replica as its executable composes it, on its own Redis and a free HTTP port.
    struct ReplicaUnderTest {
        let id: String
        let redis: RedisConnection
        let port: Int
        let application: ReplicaApplication

        /// - Parameter redisPort: a Redis of the test's own instead of the stack's `redisIndex`.
        init(
            _ id: String, redisIndex: Int = 0, redisPort: Int? = nil, namespace: Namespace,
            reportInterval: Duration = .seconds(60), kafkaBrokers: String? = nil,
            clock: @escaping @Sendable () -> Date = { Date() }
        ) throws {
            self.id = id
            redis = RedisConnection(
                host: "127.0.0.1", port: try redisPort ?? TestStack.redisPorts[redisIndex], logger: TestStack.logger)
            port = try TestStack.freePort()
            var configuration = try ReplicaApplication.Configuration.test(
                namespace, replicaID: id, port: port, reportInterval: reportInterval, kafkaBrokers: kafkaBrokers)
            configuration.clock = clock
            application = try ReplicaApplication(configuration: configuration, redis: redis, logger: TestStack.logger)
        }

        /// Whether the replica serves every code (checked without counting a click): its store
        /// answers (its Redis breaker is closed) and its links are complete, not rebuilding from
        /// the topic (both answer `503` otherwise), and hold each code.
        func serves(_ codes: [String]) async throws -> Bool {
            guard (try? await application.store.isComplete()) == true else { return false }
            for code in codes
            where try await redis.send(["HEXISTS", application.store.keys.link(code), "url"]).integer != 1 {
                return false
            }
            return true
        }

        /// Visits `code` over HTTP; returns the status.
        func click(_ code: String) async throws -> Int {
            try await TestHTTP.get("http://127.0.0.1:\(port)/\(code)").status
        }

        /// Deletes every key of the namespace, as FLUSHDB would for this replica (other tests share the server).
        func wipe(_ namespace: Namespace) async throws {
            let keys = try await redis.send(["KEYS", namespace.redisKey("*")]).array?.compactMap(\.string) ?? []
            if !keys.isEmpty { _ = try await redis.send(["DEL"] + keys) }
        }
    }

    /// Sends `plan` (code → clicks) spread over the replicas, 16 at a time; returns the non-302 answers.
    private func click(_ plan: [String: Int], on replicas: [ReplicaUnderTest]) async throws -> [Int] {
        let visits = plan.flatMap { code, count in Array(repeating: code, count: count) }.shuffled()
        return try await withThrowingTaskGroup(of: [Int].self) { group in
            for lane in 0..<16 {
                group.addTask {
                    var failures: [Int] = []
                    for index in stride(from: lane, to: visits.count, by: 16) {
                        let status = try await replicas[index % replicas.count].click(visits[index])
                        if status != 302 { failures.append(status) }
                    }
                    return failures
                }
            }
            return try await group.reduce(into: []) { $0 += $1 }
        }
    }

    @Test func totalsOnTheMasterAreExactAfterTheReplicasStopAndReplayingCountsChangesNothing() async throws {
        let master = try await MasterSide()
        let replicas = [
            try ReplicaUnderTest("a", redisIndex: 0, namespace: master.namespace),
            try ReplicaUnderTest("b", redisIndex: 1, namespace: master.namespace),
        ]
        defer { for replica in replicas { replica.redis.close() } }
        try await withRunningServices(master.services) {
            var codes: [String] = []
            for index in 0..<6 { codes.append(try await master.createLink(index)) }
            // 1000 clicks: over and under the milestone of 100, and exact multiples of it.
            let plan = Dictionary(uniqueKeysWithValues: zip(codes, [401, 250, 199, 100, 49, 1]))
            #expect(plan.values.reduce(0, +) == 1000)

            // Report only at milestones and at shutdown (the interval is a minute), to prove both.
            try await withRunningServices(replicas.flatMap(\.application.services)) {
                for replica in replicas {
                    #expect(try await eventually { try await replica.serves(codes) }, "replica \(replica.id) lags")
                }
                let failures = try await click(plan, on: replicas)
                #expect(failures.isEmpty, "non-302 answers: \(failures)")
            }
            let expected = plan.mapValues(Int64.init)
            let differing = try await master.awaitTotals(expected)
            #expect(differing.isEmpty, "wrong totals: \(differing)")

            // Consuming the whole counts topic again, from offset zero, changes no total.
            var before: [String: [String]] = [:]
            for code in codes { before[code] = try await master.counters(of: code) }
            let deadLetters = try DeadLetterQueue.test(master.namespace, group: "\(master.namespace.name)-replay")
            let aggregator = ClickAggregator(
                client: master.client, breaker: master.repository.breaker, deadLetters: deadLetters,
                logger: TestStack.logger)
            let replay = try KafkaConsumer(
                settings: .init(
                    bootstrapServers: try TestStack.kafkaBrokers, groupID: "\(master.namespace.name)-replay",
                    assignment: .allPartitions(topic: master.namespace.countsTopic) { _ in [:] }),
                logger: TestStack.logger, batchHandler: aggregator.apply)
            try await withRunningServices([deadLetters.producer, replay]) {
                #expect(await eventually { replay.isCaughtUp })
            }
            for code in codes {
                #expect(try await master.counters(of: code) == before[code])
                #expect(try await master.clicks(of: code) == expected[code])
            }
        }
    }

    @Test func aWipedRedisStartsANewEpochWhoseClicksAddToTheOldTotal() async throws {
        let master = try await MasterSide()
        try await withRunningServices(master.services) {
            let code = try await master.createLink(0)
            let first = try ReplicaUnderTest("a", redisIndex: 0, namespace: master.namespace)
            defer { first.redis.close() }
            try await withRunningServices(first.application.services) { () async throws in
                #expect(try await eventually { try await first.serves([code]) })
                let failed = try await click([code: 130], on: [first])
                #expect(failed.isEmpty, "answers other than 302: \(failed)")
            }
            #expect(try await master.awaitTotals([code: 130]).isEmpty)

            try await first.wipe(master.namespace)
            // The restarted replica rebuilds its links from offset zero and counts in a new epoch.
            let second = try ReplicaUnderTest("a", redisIndex: 0, namespace: master.namespace)
            defer { second.redis.close() }
            try await withRunningServices(second.application.services) { () async throws in
                #expect(try await eventually { try await second.serves([code]) })
                #expect(try await click([code: 20], on: [second]).isEmpty)
            }
            #expect(try await master.awaitTotals([code: 150]).isEmpty)
            let counters = try await master.counters(of: code)
            #expect(counters.count == 2, "one counter per epoch: \(counters)")
            #expect(Set(counters.map { $0.split(separator: " ").last! }) == ["130", "20"])
        }
    }

    @Test func clicksCountedWhileKafkaIsUnreachableAreReportedLater() async throws {
        let master = try await MasterSide()
        try await withRunningServices(master.services) {
            let code = try await master.createLink(0)
            let links = try ReplicaUnderTest("a", redisIndex: 1, namespace: master.namespace)
            defer { links.redis.close() }
            // Fill the replica's Redis with the link first.
            try await withRunningServices(links.application.services) { () async throws in
                #expect(try await eventually { try await links.serves([code]) })
            }

            // A replica whose producer points at a port where no broker listens: redirects still
            // answer, quickly, and the clicks wait in Redis.
            let deadBroker = "127.0.0.1:\(try TestStack.freePort())"
            let cutOff = try ReplicaUnderTest(
                "a", redisIndex: 1, namespace: master.namespace, reportInterval: .milliseconds(200),
                kafkaBrokers: deadBroker)
            defer { cutOff.redis.close() }
            let ledger = ClickLedger(
                redis: GuardedRedis(cutOff.redis, breaker: .redis(logger: TestStack.logger)),
                namespace: master.namespace)
            try await withRunningServices(cutOff.application.services.filter { !($0 is KafkaConsumer) }) {
                let started = ContinuousClock.now
                #expect(try await click([code: 250], on: [cutOff]).isEmpty)
                let elapsed = ContinuousClock.now - started
                #expect(elapsed < .seconds(10), "250 redirects took \(elapsed) without a broker")
                try await Task.sleep(for: .milliseconds(500))
                #expect(try await ledger.unreportedCount() == 1)
            }
            #expect(try await master.clicks(of: code) == 0)

            // The next run, with the broker reachable, reports the running total from Redis.
            let reconnected = try ReplicaUnderTest(
                "a", redisIndex: 1, namespace: master.namespace, reportInterval: .milliseconds(200))
            defer { reconnected.redis.close() }
            try await withRunningServices(reconnected.application.services.filter { !($0 is KafkaConsumer) }) {
                () async throws in
                #expect(try await master.awaitTotals([code: 250]).isEmpty)
            }
            #expect(try await ledger.unreportedCount() == 0)
        }
    }

    @Test func aRedisRestoredFromAnOlderSnapshotHidesNoClicksAndNoLinks() async throws {
        let master = try await MasterSide()
        let server = try await PrivateRedis()
        defer { server.remove() }
        try await withRunningServices(master.services) {
            let code = try await master.createLink(0)
            let replica = try ReplicaUnderTest(
                "a", redisPort: server.port, namespace: master.namespace, reportInterval: .milliseconds(300))
            defer { replica.redis.close() }
            let ledger = ClickLedger(redis: replica.application.store.redis, namespace: master.namespace)
            try await withRunningServices(replica.application.services) { () async throws in
                #expect(try await eventually { try await replica.serves([code]) })
                let failed = try await click([code: 130], on: [replica])
                #expect(failed.isEmpty, "answers other than 302: \(failed)")
                #expect(try await master.awaitTotals([code: 130]).isEmpty)
                #expect(try await eventually { try await ledger.unreportedCount() == 0 })
                // A snapshot now; everything after it is lost when Redis restarts from it.
                _ = try await replica.redis.send(["SAVE"])
                let later = try await master.createLink(1)
                #expect(try await eventually { try await replica.serves([later]) })
                #expect(try await click([code: 50], on: [replica]).isEmpty)
                #expect(try await master.awaitTotals([code: 180]).isEmpty)

                try await server.stop()
                try await server.start()  // back with 130 clicks, the same epoch, and no `later`
                let reread = try await eventually(timeout: .seconds(20)) { try await replica.serves([later]) }
                #expect(reread, "the links lost with the newer data were not read again")
                let ready = await eventually(timeout: .seconds(20)) {
                    (try? await TestHTTP.get("http://127.0.0.1:\(replica.port)/health/ready").status) == 200
                }
                #expect(ready)
                #expect(try await click([code: 20, later: 5], on: [replica]).isEmpty)
                // Counting on from 130 in the old epoch would hide these 20 behind the master's 180.
                #expect(try await master.awaitTotals([code: 200, later: 5]).isEmpty)
            }
        }
    }
}
