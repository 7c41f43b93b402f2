import Foundation
import TestSupport
import Testing

/// An edit with the real executables: it reaches both replicas within a report interval, is
/// signed to webhooks as `link.updated`, and a replica rebuilt from offset zero ends on it.
@Suite struct LinkEditEndToEndTests {
    @Test func anEditReachesEveryReplicaWebhooksAndAReplayedReplica() async throws {
        let receiver = try await WebhookTests.Receiver()
        defer { receiver.stop() }
        let secret = "edit-secret-\(UUID().uuidString)"
        var deployment = try TestDeployment(namespace: try await TestStack.makeNamespace())
        deployment.environment = [
            "SHORTENER_WEBHOOK_URLS": receiver.url, "SHORTENER_WEBHOOK_SECRET": secret,
            "SHORTENER_WEBHOOK_ALLOW_PRIVATE": "true",
        ]
        let redisPorts = try TestStack.redisPorts
        let master = try deployment.master()
        let outbox = try deployment.outbox()
        let notifier = try deployment.notifier()
        let replicaA = try deployment.replica("a", redisPort: redisPorts[0])
        let replicaB = try deployment.replica("b", redisPort: redisPorts[1])
        for service in [master, outbox, notifier, replicaA, replicaB] { try await service.waitUntilHealthy() }

        let created = try await TestHTTP.post(
            "\(master.url)/create", body: #"{"url":"https://example.com/before","tags":["launch"]}"#)
        #expect(created.status == 201)
        let code = try #require(created.json["code"] as? String)
        func target(on replica: TestDeployment.Running) async throws -> String {
            let reply = try await TestHTTP.get("\(replica.url)/\(code)")
            return reply.status == 302 ? reply.headers["location"] ?? "" : "\(reply.status)"
        }
        for replica in [replicaA, replicaB] {
            #expect(try await eventually { try await target(on: replica) == "https://example.com/before" })
        }

        let edited = try await TestHTTP.patch(
            "\(master.url)/api/links/\(code)",
            body: #"{"url":"https://example.com/after","tags":["launch","q4"]}"#, headers: ["If-Match": "\"1\""])
        #expect(edited.status == 200, "\(edited.body)")
        #expect(edited.headers["etag"] == "\"2\"")
        // Within a report interval (1 s here), both replicas redirect to the new target.
        for replica in [replicaA, replicaB] {
            let moved = try await eventually(timeout: .seconds(1)) {
                try await target(on: replica) == "https://example.com/after"
            }
            let answer = try await target(on: replica)
            #expect(moved, "replica \(replica.url) still answers \(answer)")
        }
        let announced = await eventually(timeout: .seconds(20)) {
            receiver.received().contains { $0.event == "link.updated" }
        }
        #expect(announced, "notifier log:\n\(notifier.process.logTail())")
        if let update = receiver.received().first(where: { $0.event == "link.updated" }) {
            #expect(WebhookTests.verify(update.signature, body: update.body, secret: secret))
            #expect(update.json["code"] as? String == code)
            #expect(update.json["url"] as? String == "https://example.com/after")
            #expect(update.json["tags"] as? [String] == ["launch", "q4"])
            #expect(update.json["revision"] as? Int == 2)
        }

        // A replica rebuilt from offset zero ends on the latest revision.
        #expect(await replicaA.process.stop() == 0)
        let replay = try ServiceProcess(
            "replica", arguments: ["replay", "--log-level", "warning"],
            environment: [
                "SHORTENER_NAMESPACE": deployment.namespace.name, "SHORTENER_REPLICA_ID": "a",
                "SHORTENER_REDIS_PORT": String(redisPorts[0]), "SHORTENER_KAFKA_BROKERS": deployment.kafkaBrokers,
            ])
        #expect(try await replay.waitForExit(timeout: .seconds(60)) == 0, "\(replay.logTail())")
        let rebuilt = try deployment.replica("a", redisPort: redisPorts[0])
        try await rebuilt.waitUntilHealthy()
        #expect(try await target(on: rebuilt) == "https://example.com/after")

        // A deletion after the edit wins everywhere.
        #expect(try await TestHTTP.delete("\(master.url)/api/links/\(code)").status == 204)
        for replica in [rebuilt, replicaB] {
            #expect(try await eventually { try await target(on: replica) == "410" })
        }
        for service in [rebuilt, replicaB, notifier, outbox, master] { #expect(await service.process.stop() == 0) }
    }
}
