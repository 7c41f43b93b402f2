import Foundation
import SharedConfiguration
import SharedRedis
import TestSupport
import Testing

/// The dev broker as `make run` runs it, with its topics kept on disk: a stack stopped and
/// started again keeps every link, every click total and every webhook sent once.
@Suite struct DurableBrokerTests {
    /// A master, a relay, replica a and a notifier posting to `receiver`, on `broker`.
    private func start(
        _ namespace: Namespace, broker: PrivateBroker, receiver: WebhookTests.Receiver
    ) async throws -> (TestDeployment, [TestDeployment.Running]) {
        var deployment = try TestDeployment(namespace: namespace, kafkaBrokers: broker.bootstrapServers)
        deployment.environment = [
            "SHORTENER_WEBHOOK_URLS": receiver.url, "SHORTENER_WEBHOOK_SECRET": "s",
            "SHORTENER_WEBHOOK_ALLOW_PRIVATE": "true",
        ]
        let services = [
            try deployment.master(), try deployment.outbox(), try deployment.notifier(),
            try deployment.replica("a", redisPort: try TestStack.redisPorts[0]),
        ]
        for service in services { try await service.waitUntilHealthy() }
        return (deployment, services)
    }

    @Test func aStackStoppedAndStartedAgainKeepsLinksTotalsAndSendsNoWebhookTwice() async throws {
        let namespace = try await TestStack.makeNamespace()
        let dataDirectory = NSTemporaryDirectory() + "shortener-durable-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dataDirectory) }
        let receiver = try await WebhookTests.Receiver()
        defer { receiver.stop() }

        let firstBroker = try await PrivateBroker(namespace: namespace, dataDirectory: dataDirectory)
        let (_, first) = try await start(namespace, broker: firstBroker, receiver: receiver)
        let (master, replica) = (first[0], first[3])
        var codes: [String] = []
        for index in 0..<6 {
            let reply = try await TestHTTP.post(
                "\(master.url)/create", body: #"{"url":"https://example.com/d/\#(index)"}"#)
            codes.append(try #require(reply.json["code"] as? String))
        }
        // 150 clicks on the first link: the one that finds it arrived, then 149.
        #expect(try await eventually { try await TestHTTP.get("\(replica.url)/\(codes[0])").status == 302 })
        for _ in 0..<149 { #expect(try await TestHTTP.get("\(replica.url)/\(codes[0])").status == 302) }
        let counted = try await eventually(timeout: .seconds(20)) {
            try await TestHTTP.get("\(master.url)/api/links/\(codes[0])").json["clicks"] as? Int == 150
        }
        #expect(counted)
        // Six link.created and the milestone of 100 clicks. Delivery is at-least-once: on a loaded
        // machine a receiver slower than the notifier's 5 s timeout gets an event again (the
        // same id), which is not what this test is about; what the restart sends is.
        #expect(await eventually(timeout: .seconds(20)) { Set(receiver.received().map(\.eventID)).count >= 7 })
        for service in first.reversed() { #expect(await service.process.stop() == 0) }
        let deliveredBeforeTheRestart = receiver.received().count
        #expect(await firstBroker.stop() == 0, "\(firstBroker.logTail())")

        // A new broker process on the same folder, at another address, like the next `make run`.
        let secondBroker = try await PrivateBroker(namespace: namespace, dataDirectory: dataDirectory)
        let (deployment, second) = try await start(namespace, broker: secondBroker, receiver: receiver)
        let replay = try ServiceProcess(
            "replica", arguments: ["replay", "--log-level", "warning"],
            environment: [
                "SHORTENER_NAMESPACE": deployment.namespace.name, "SHORTENER_REPLICA_ID": "a",
                "SHORTENER_REDIS_PORT": String(try TestStack.redisPorts[0]),
                "SHORTENER_KAFKA_BROKERS": secondBroker.bootstrapServers,
            ])
        #expect(try await replay.waitForExit(timeout: .seconds(60)) == 0, "\(replay.logTail())")
        #expect(replay.logTail().contains("links: 6 before, 6 now"), "\(replay.logTail())")
        for code in codes {
            let served = try await eventually { try await TestHTTP.get("\(second[3].url)/\(code)").status == 302 }
            #expect(served, "\(code) is not served after the restart and replay")
        }
        // The check above clicked each link once more: the master adds it to the total it kept.
        let kept = try await eventually(timeout: .seconds(20)) {
            try await TestHTTP.get("\(second[0].url)/api/links/\(codes[0])").json["clicks"] as? Int == 151
        }
        #expect(kept, "the master's total changed over the restart")
        // What make run does after a killed broker: every link announced again. Replicas ignore
        // it by revision, and the notifier sends no webhook for it.
        let backfill = try ServiceProcess(
            "master", arguments: ["backfill", "--log-level", "warning"],
            environment: [
                "SHORTENER_NAMESPACE": deployment.namespace.name, "SHORTENER_PG_PORT": String(deployment.postgresPort),
            ])
        #expect(try await backfill.waitForExit() == 0, "\(backfill.logTail())")
        let consumed = await eventually(timeout: .seconds(15)) {
            second[2].process.logTail(lines: 1000).components(separatedBy: "event.reannounced=true").count > 6
        }
        #expect(consumed, "the notifier did not read the re-announced links")
        try await Task.sleep(for: .seconds(2))  // time for anything sent again to arrive
        let ids = receiver.received().map(\.eventID)
        #expect(
            ids.count == deliveredBeforeTheRestart,
            "webhooks sent after the restart: \(ids.dropFirst(deliveredBeforeTheRestart))")
        #expect(Set(ids).count == 7)
        for service in second.reversed() { _ = await service.process.stop() }
        await secondBroker.remove()
        await firstBroker.remove()
    }

    /// How many creates of a burst are in.
    private actor Tally {
        var value = 0
        func add() { value += 1 }
    }

    /// The revision and state a replica's Redis holds for `code` (`nil` when it has none).
    private func replicaLink(_ code: String, namespace: Namespace, redisPort: Int) async throws -> String? {
        let redis = RedisConnection(host: "127.0.0.1", port: redisPort, logger: TestStack.logger)
        defer { redis.close() }
        let reply = try await redis.send(["HMGET", "\(namespace.name):link:\(code)", "rev", "state"])
        guard let fields = reply.array?.compactMap(\.string), fields.count == 2 else { return nil }
        return "\(fields[0]) \(fields[1])"
    }

    /// The revision and state the master's Postgres holds for `code`, as a replica writes them.
    private func masterLink(_ code: String, master: TestDeployment.Running) async throws -> String {
        let details = try await TestHTTP.get("\(master.url)/api/links/\(code)").json
        let revision = details["revision"] as? Int ?? -1
        return "\(revision) \(details["status"] as? String == "deleted" ? "deleted" : "active")"
    }

    @Test func aBrokerKilledDuringACreateBurstLeavesBothReplicasAtPostgresRevisions() async throws {
        let namespace = try await TestStack.makeNamespace()
        let dataDirectory = NSTemporaryDirectory() + "shortener-killed-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dataDirectory) }
        let redisPorts = try TestStack.redisPorts
        func start(_ broker: PrivateBroker) async throws -> [TestDeployment.Running] {
            let deployment = try TestDeployment(namespace: namespace, kafkaBrokers: broker.bootstrapServers)
            let services = [
                try deployment.master(), try deployment.outbox(),
                try deployment.replica("a", redisPort: redisPorts[0]),
                try deployment.replica("b", redisPort: redisPorts[1]),
            ]
            for service in services { try await service.waitUntilHealthy(timeout: .seconds(60)) }
            return services
        }

        let firstBroker = try await PrivateBroker(namespace: namespace, dataDirectory: dataDirectory)
        let first = try await start(firstBroker)
        let master = first[0]
        func create(_ name: String) async throws -> String {
            let reply = try await TestHTTP.post(
                "\(master.url)/create", body: #"{"url":"https://example.com/k/\#(name)"}"#)
            return try #require(reply.json["code"] as? String, "\(reply.status) \(reply.body)")
        }
        // Links both replicas have read, so that each holds offsets from before the crash.
        var warmCodes: [String] = []
        for index in 0..<40 { warmCodes.append(try await create("warm-\(index)")) }
        let warm = warmCodes
        for replica in first[2...] {
            let served = try await eventually(timeout: .seconds(20)) {
                try await TestHTTP.get("\(replica.url)/\(warm.last!)").status == 302
            }
            #expect(served)
        }

        let createdSoFar = Tally()
        // The burst: creates from eight clients, edits and deletes of the warm links, and the
        // broker killed when a third of the creates are in.
        let created = try await withThrowingTaskGroup(of: [String].self) { group in
            for client in 0..<8 {
                group.addTask {
                    var codes: [String] = []
                    for index in 0..<50 {
                        codes.append(try await create("burst-\(client)-\(index)"))
                        await createdSoFar.add()
                    }
                    return codes
                }
            }
            group.addTask {
                for (index, code) in warm.enumerated() {
                    if index % 4 == 0 {
                        #expect(try await TestHTTP.delete("\(master.url)/api/links/\(code)").status == 204)
                    } else {
                        let edited = try await TestHTTP.patch(
                            "\(master.url)/api/links/\(code)", body: #"{"url":"https://example.com/edited/\#(index)"}"#)
                        #expect(edited.status == 200, "\(edited.body)")
                    }
                }
                return []
            }
            group.addTask {
                let deadline = ContinuousClock.now + .seconds(60)
                while await createdSoFar.value < 130, ContinuousClock.now < deadline {
                    try await Task.sleep(for: .milliseconds(10))
                }
                firstBroker.crash()
                return []
            }
            return try await group.reduce(into: [String]()) { $0 += $1 }
        }
        #expect(created.count == 400)
        // Stopped while the broker is gone: each gives up on what it could not send, in time.
        for service in first { service.process.requestStop() }
        for service in first {
            #expect(await service.process.stop(timeout: .seconds(25)) == 0, "\(service.process.logTail())")
        }

        // As the next `make run`: the broker restored from its folder, every link announced
        // again when it was not stopped cleanly, then the services.
        let secondBroker = try await PrivateBroker(namespace: namespace, dataDirectory: dataDirectory)
        #expect(FileManager.default.fileExists(atPath: "\(dataDirectory)/needs-backfill"))
        let backfill = try ServiceProcess(
            "master", arguments: ["backfill", "--log-level", "warning"],
            environment: [
                "SHORTENER_NAMESPACE": namespace.name, "SHORTENER_PG_PORT": String(try TestStack.postgresPort),
                "SHORTENER_KAFKA_BROKERS": secondBroker.bootstrapServers,
            ])
        #expect(try await backfill.waitForExit() == 0, "\(backfill.logTail())")
        let second = try await start(secondBroker)

        for code in warm + created {
            let expected = try await masterLink(code, master: second[0])
            for (replica, port) in zip(second[2...], redisPorts) {
                let same = try await eventually(timeout: .seconds(30)) {
                    try await replicaLink(code, namespace: namespace, redisPort: port) == expected
                }
                let held = try await replicaLink(code, namespace: namespace, redisPort: port) ?? "nothing"
                #expect(same, "\(code): Postgres has \(expected), replica \(replica.process.name) on \(port) \(held)")
            }
        }
        for service in second.reversed() { _ = await service.process.stop() }
        await secondBroker.remove()
        await firstBroker.remove()
    }

    @Test func aTornGroupsFileDoesNotStopTheBroker() async throws {
        let namespace = try await TestStack.makeNamespace()
        let dataDirectory = NSTemporaryDirectory() + "shortener-torn-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dataDirectory) }
        try FileManager.default.createDirectory(atPath: dataDirectory, withIntermediateDirectories: true)
        try Data(#"{"\#(namespace.masterGroup)":{"#.utf8).write(
            to: URL(fileURLWithPath: "\(dataDirectory)/groups.json"))
        let broker = try await PrivateBroker(namespace: namespace, dataDirectory: dataDirectory)
        #expect(try await TestHTTP.get("\(broker.controlURL)/health/ready").status == 200)
        #expect(await broker.stop() == 0)
        await broker.remove()
    }
}
