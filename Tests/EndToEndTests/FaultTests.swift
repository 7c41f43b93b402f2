import Foundation
import NIOConcurrencyHelpers
import PostgresNIO
import Shared
import Testing
import TestSupport

/// Faults injected into real processes; each test breaks only infrastructure of its own.
@Suite(.serialized) struct FaultTests {
    /// `POST /create` of `url`; the status, the code on success, and how long it took.
    private func create(_ master: TestDeployment.Running, _ url: String) async throws
        -> (status: Int, code: String?, elapsed: Duration, reply: TestHTTP.Reply)
    {
        let started = ContinuousClock.now
        let reply = try await TestHTTP.post("\(master.url)/create", body: #"{"url":"\#(url)"}"#)
        return (reply.status, reply.json["code"] as? String, ContinuousClock.now - started, reply)
    }

    /// Waits until every code answers `status` on the replica; returns the codes that do not.
    private func awaitStatus(
        _ status: Int, of codes: [String], on replica: TestDeployment.Running, timeout: Duration = .seconds(30)
    ) async throws -> [String] {
        var pending = Set(codes)
        let deadline = ContinuousClock.now + timeout
        repeat {
            for code in pending where (try? await TestHTTP.get("\(replica.url)/\(code)"))?.status == status {
                pending.remove(code)
            }
            if pending.isEmpty { break }
            try await Task.sleep(for: .milliseconds(200))
        } while ContinuousClock.now < deadline
        return pending.sorted()
    }

    // (c)
    @Test func postgresDownAnswers503FastAndCreatesRecoverWithoutARestart() async throws {
        let postgres = try PrivatePostgres()
        defer { postgres.remove() }
        let namespace = try await TestStack.makeNamespace()
        let deployment = try TestDeployment(namespace: namespace, postgresPort: postgres.port)
        try await deployment.migrate()
        let master = try deployment.master()
        defer { master.process.crash() }
        try await master.waitUntilHealthy()

        var created: [String] = []
        for index in 0..<5 {
            let result = try await create(master, "https://example.com/pg/before/\(index)")
            #expect(result.status == 201)
            created += result.code.map { [$0] } ?? []
        }

        try postgres.stop()
        // Until the breaker opens, creates fail within the call timeout; then at once.
        var opened = false
        let deadline = ContinuousClock.now + .seconds(30)
        while !opened && ContinuousClock.now < deadline {
            let result = try await create(master, "https://example.com/pg/during")
            #expect(result.status == 503, "while Postgres is down: \(result.status) \(result.reply.body)")
            #expect(result.elapsed < .seconds(5), "a create hung for \(result.elapsed)")
            opened =
                result.reply.body.contains("circuit open") || result.reply.body.contains("unavailable; try again in")
        }
        #expect(opened, "the breaker never opened:\n\(master.process.logTail())")
        var timings: [Duration] = []
        for _ in 0..<20 {
            let result = try await create(master, "https://example.com/pg/open")
            #expect(result.status == 503)
            #expect(result.reply.headers["retry-after"].flatMap(Int.init) ?? 0 >= 1)
            #expect((result.reply.json["error"] as? [String: Any])?["code"] as? String == "unavailable")
            timings.append(result.elapsed)
        }
        timings.sort()
        #expect(timings[17] < .milliseconds(100), "an open breaker must answer at once: \(timings)")
        let ready = try await TestHTTP.get("\(master.url)/health/ready")
        #expect(ready.status == 503)

        try postgres.start()
        var recovered: String?
        let recovery = ContinuousClock.now + .seconds(30)
        while recovered == nil && ContinuousClock.now < recovery {
            let result = try await create(master, "https://example.com/pg/after")
            if result.status == 201 { recovered = result.code } else { try await Task.sleep(for: .milliseconds(200)) }
        }
        #expect(recovered != nil, "creates did not recover:\n\(master.process.logTail())")
        created += recovered.map { [$0] } ?? []
        try await master.waitUntilHealthy()

        // Every link has its outbox row and no row stands alone: nothing partial was committed.
        let configuration = PostgresClient.Configuration(
            host: "127.0.0.1", port: postgres.port, username: "postgres", password: nil,
            database: namespace.databaseName, tls: .disable)
        let expected = created.count
        try await PostgresClient.withRunning(configuration, logger: TestStack.logger) { client in
            let rows = try await client.query(
                """
                SELECT (SELECT count(*) FROM links)::int,
                       (SELECT count(*) FROM outbox)::int,
                       (SELECT count(*) FROM links l FULL JOIN outbox o ON o.message_key = l.code
                        WHERE l.code IS NULL OR o.id IS NULL)::int
                """, logger: TestStack.logger)
            for try await (links, outbox, unmatched) in rows.decode((Int, Int, Int).self) {
                #expect(links == expected && outbox == expected && unmatched == 0)
            }
        }
        #expect(await master.process.stop() == 0)
    }

    // (d)
    @Test func aReplicaSurvivesItsRedisStoppingAndBeingWiped() async throws {
        let redis = try PrivateRedis()
        defer { redis.remove() }
        let namespace = try await TestStack.makeNamespace()
        let deployment = try TestDeployment(namespace: namespace)
        let master = try deployment.master()
        let outbox = try deployment.outbox()
        let replica = try deployment.replica("a", redisPort: redis.port)
        defer { for service in [master, outbox, replica] { service.process.crash() } }
        try await master.waitUntilHealthy()
        try await replica.waitUntilHealthy()

        var codes: [String] = []
        for index in 0..<20 {
            let result = try await create(master, "https://example.com/redis/\(index)")
            try #require(result.status == 201)
            codes.append(result.code!)
        }
        #expect(try await awaitStatus(302, of: codes, on: replica).isEmpty)

        try redis.stop()
        var statuses: [Int] = []
        var slowest = Duration.zero
        for code in codes {
            let started = ContinuousClock.now
            statuses.append(try await TestHTTP.get("\(replica.url)/\(code)").status)
            slowest = max(slowest, ContinuousClock.now - started)
        }
        #expect(statuses.allSatisfy { $0 == 503 }, "redirects without Redis: \(statuses)")
        #expect(slowest < .seconds(3), "a redirect without Redis took \(slowest)")
        #expect(try await TestHTTP.get("\(replica.url)/health/ready").status == 503)

        // Back without its data (no persistence): the replica rebuilds by itself.
        try redis.start()
        #expect(
            try await awaitStatus(302, of: codes, on: replica).isEmpty,
            "redirects did not recover after Redis came back:\n\(replica.process.logTail())")

        // Flushed while running: the replica notices and rebuilds from offset zero.
        let connection = RedisConnection(host: "127.0.0.1", port: redis.port, logger: TestStack.logger)
        defer { connection.close() }
        _ = try await connection.send(["FLUSHDB"])
        #expect(
            try await awaitStatus(302, of: codes, on: replica).isEmpty,
            "redirects did not recover after FLUSHDB:\n\(replica.process.logTail())")
        #expect(replica.process.logTail(lines: 200).contains("assigning the partitions again"))
        for service in [replica, outbox, master] { #expect(await service.process.stop() == 0) }
    }
}
