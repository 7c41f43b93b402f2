import Foundation
import PostgresNIO
import TestSupport
import Testing

/// `master backfill` with the real executables: a links topic that lost everything is filled
/// again from Postgres, and a fresh replica serves every link from it.
@Suite struct BackfillEndToEndTests {
    @Test func backfillIntoAnEmptyTopicMakesAFreshReplicaServeEveryLink() async throws {
        let namespace = try await TestStack.makeNamespace()
        let deployment = try TestDeployment(namespace: namespace)

        // Links are created while no relay runs: nothing reaches the (empty) topic.
        let master = try deployment.master()
        try await master.waitUntilHealthy()
        var created: [String: String] = [:]
        for index in 0..<40 {
            let url = "https://example.com/backfill/\(index)"
            let reply = try await TestHTTP.post("\(master.url)/create", body: #"{"url":"\#(url)"}"#)
            try #require(reply.status == 201, "\(reply.body)\n\(master.process.logTail())")
            created[try #require(reply.json["code"] as? String)] = url
        }
        let deleted = try #require(created.keys.sorted().first)
        #expect(try await TestHTTP.delete("\(master.url)/api/links/\(deleted)").status == 204)
        #expect(await master.process.stop() == 0)
        try await PostgresClient.withRunning(
            try TestStack.postgresConfiguration(database: namespace.databaseName), logger: TestStack.logger
        ) { client in
            // As if the rows had been published long ago to a topic that was then lost.
            try await client.query("UPDATE outbox SET published_at = now()", logger: TestStack.logger)
        }

        let backfill = try ServiceProcess(
            "master", arguments: ["backfill", "--batch-size", "15"],
            environment: ["SHORTENER_NAMESPACE": namespace.name, "SHORTENER_PG_PORT": String(deployment.postgresPort)])
        #expect(try await backfill.waitForExit() == 0)
        let output = backfill.logTail(lines: 50)
        #expect(output.contains("Backfill: 40 / 40 links"), "\(output)")
        #expect(output.contains("Backfill done: 40 links queued"), "\(output)")

        let outbox = try deployment.outbox()
        let replica = try deployment.replica("fresh", redisPort: try TestStack.redisPorts[0])
        try await outbox.waitUntilHealthy()
        try await replica.waitUntilHealthy()
        // Deleted links answer 410, the others redirect to their URL.
        func answer(_ code: String) async throws -> String {
            let reply = try await TestHTTP.get("\(replica.url)/\(code)")
            return reply.status == 302 ? reply.headers["location"] ?? "302 without location" : "\(reply.status)"
        }
        let expected = created.mapValues { $0 }.merging([deleted: "410"]) { $1 }
        var answers: [String: String] = [:]
        _ = try await eventually(timeout: .seconds(20)) {
            for code in expected.keys where answers[code] != expected[code] { answers[code] = try await answer(code) }
            return answers == expected
        }
        #expect(answers == expected, "replica log:\n\(replica.process.logTail())")
        #expect(await replica.process.stop() == 0)
        #expect(await outbox.process.stop() == 0)
    }
}
