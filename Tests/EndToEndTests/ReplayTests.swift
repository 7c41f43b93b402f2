import Foundation
import SharedConfiguration
import SharedEvents
import SharedKafka
import SharedRedis
import TestSupport
import Testing
import SharedLinks

/// `replica replay`: rebuilding a replica's Redis from offset zero of the links topic.
@Suite struct ReplayTests {
    /// Publishes `count` created links (`r0`, `r1`, …) and deletes the last `deleted` of them.
    private func publishLinks(_ count: Int, deleting deleted: Int, to namespace: Namespace) async throws {
        let producer = try KafkaProducer(
            settings: .init(bootstrapServers: try TestStack.kafkaBrokers), logger: TestStack.logger)
        try await withRunningServices([producer]) {
            let created = (0..<count).map {
                LinkEvent.created(LinkAddress(code: "r\($0)"), url: "https://example.com/replay/\($0)", expiresAt: nil)
            }
            let deletions = ((count - deleted)..<count).map {
                LinkEvent.deleted(LinkAddress(code: "r\($0)"), revision: 2)
            }
            for event in created + deletions {
                try await producer.send(topic: namespace.linksTopic, key: event.code, value: EventCodec.encode(event))
            }
        }
    }

    private func redis(_ port: Int) -> RedisConnection {
        RedisConnection(host: "127.0.0.1", port: port, logger: TestStack.logger)
    }

    /// Every key matching `pattern`.
    private func keys(_ pattern: String, in redis: RedisConnection) async throws -> [String] {
        var cursor = "0"
        var found: [String] = []
        repeat {
            let reply = try await redis.send(["SCAN", cursor, "MATCH", pattern, "COUNT", "1000"])
            cursor = reply.array?[0].string ?? "0"
            found += reply.array?[1].array?.compactMap(\.string) ?? []
        } while cursor != "0"
        return found
    }

    /// Asserts that `r0..<count` redirect on `replica`, except the last `deleted`, which are gone.
    private func expectEveryLink(_ count: Int, deleted: Int, on replica: TestDeployment.Running) async throws {
        for index in 0..<count {
            let reply = try await TestHTTP.get("\(replica.url)/r\(index)")
            if index < count - deleted {
                #expect(reply.status == 302, "r\(index): \(reply.status)")
                #expect(reply.headers["location"] == "https://example.com/replay/\(index)")
            } else {
                #expect(reply.status == 410, "r\(index): \(reply.status)")
            }
        }
    }

    private func replay(_ deployment: TestDeployment, id: String, redisPort: Int) async throws -> String {
        let process = try ServiceProcess(
            "replica", arguments: ["replay", "--log-level", "warning"],
            environment: [
                "SHORTENER_NAMESPACE": deployment.namespace.name, "SHORTENER_REPLICA_ID": id,
                "SHORTENER_REDIS_PORT": String(redisPort),
            ])
        let status = try await process.waitForExit(timeout: .seconds(60))
        let output = process.logTail(lines: 200)
        #expect(status == 0, "replay exited with \(status):\n\(output)")
        return output
    }

    @Test func replayRestoresEveryLinkIntoAnEmptiedRedisAndShowsProgress() async throws {
        let namespace = try await TestStack.makeNamespace()
        let deployment = try TestDeployment(namespace: namespace)
        let redisPort = try TestStack.redisPorts[0]
        try await publishLinks(250, deleting: 10, to: namespace)
        let redis = redis(redisPort)
        defer { redis.close() }

        // A replica fills its Redis and stops; then the namespace's keys are lost.
        let first = try deployment.replica("a", redisPort: redisPort)
        try await first.waitUntilHealthy()
        try await expectEveryLink(250, deleted: 10, on: first)
        #expect(await first.process.stop() == 0)
        let foreignKey = "other-\(namespace.name):keep"
        _ = try await redis.send(["SET", foreignKey, "1"])
        for key in try await keys(namespace.redisKey("*"), in: redis) { _ = try await redis.send(["DEL", key]) }

        let output = try await replay(deployment, id: "a", redisPort: redisPort)

        #expect(output.contains("Replay: 0 / 260 messages") || output.contains("/ 260 messages, "), "\(output)")
        #expect(output.contains("Replay: 260 / 260 messages"), "\(output)")
        #expect(output.contains("rebuilt by this command"), "\(output)")
        #expect(output.contains("links: 0 before, 250 now"), "\(output)")
        #expect(try await redis.send(["GET", foreignKey]).string == "1", "another namespace's key was touched")
        _ = try await redis.send(["DEL", foreignKey])

        let second = try deployment.replica("a", redisPort: redisPort)
        try await second.waitUntilHealthy()
        try await expectEveryLink(250, deleted: 10, on: second)
        #expect(await second.process.stop() == 0)
    }

    @Test func aRunningReplicaToldToReplayRebuildsItselfAndKeepsItsClicks() async throws {
        let namespace = try await TestStack.makeNamespace()
        let deployment = try TestDeployment(namespace: namespace)
        let redisPort = try TestStack.redisPorts[1]
        try await publishLinks(100, deleting: 0, to: namespace)
        let redis = redis(redisPort)
        defer { redis.close() }
        let replica = try deployment.replica("b", redisPort: redisPort)
        try await replica.waitUntilHealthy()
        for _ in 0..<5 { #expect(try await TestHTTP.get("\(replica.url)/r0").status == 302) }
        // A stale link that the topic does not have: a replay must not keep it.
        _ = try await redis.send(["HSET", namespace.redisKey("link:stale"), "url", "https://stale", "rev", "9"])

        let output = try await replay(deployment, id: "b", redisPort: redisPort)

        #expect(output.contains("rebuilt by the running replica b"), "\(output)")
        #expect(output.contains("Replay: 100 / 100 messages"), "\(output)")
        #expect(output.contains("links: 101 before, 100 now"), "\(output)")
        #expect(try await redis.send(["HGET", namespace.redisKey("clicks"), "r0"]).string == "5")
        #expect(try await TestHTTP.get("\(replica.url)/stale").status == 404)
        try await expectEveryLink(100, deleted: 0, on: replica)
        #expect(await replica.process.stop() == 0)
    }
}
