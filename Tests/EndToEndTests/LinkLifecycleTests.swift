import Foundation
import SharedEvents
import SharedJSON
import TestSupport
import Testing

/// The link lifecycle and the HTTP API on the real executables: aliases, expiry, visit limits,
/// deletion, listing, API keys, rate limits and idempotent creates.
@Suite struct LinkLifecycleTests {
    /// A master, a relay and two replicas of a fresh namespace.
    struct Stack {
        let deployment: TestDeployment
        let master: TestDeployment.Running
        let outbox: TestDeployment.Running
        let replicas: [TestDeployment.Running]

        init(environment: [String: String] = [:]) async throws {
            var deployment = try TestDeployment(namespace: try await TestStack.makeNamespace())
            deployment.environment = environment
            self.deployment = deployment
            master = try deployment.master()
            outbox = try deployment.outbox()
            let ports = try TestStack.redisPorts
            replicas = try [deployment.replica("a", redisPort: ports[0]), deployment.replica("b", redisPort: ports[1])]
            for service in [master, outbox] + replicas { try await service.waitUntilHealthy() }
        }

        func create(_ body: String, headers: [String: String] = [:]) async throws -> TestHTTP.Reply {
            try await TestHTTP.post("\(master.url)/create", body: body, headers: headers)
        }

        /// The statuses of `GET /<code>` on each replica.
        func statuses(_ code: String) async throws -> [Int] {
            var statuses: [Int] = []
            for replica in replicas { statuses.append(try await TestHTTP.get("\(replica.url)/\(code)").status) }
            return statuses
        }

        /// Link events each replica applied, by its own figures: they tell when a link arrived
        /// without visiting it.
        func appliedEvents() async throws -> [Double] {
            var counts: [Double] = []
            for replica in replicas {
                counts.append(
                    try await PrometheusScrape.fetch("\(replica.url)/metrics")
                        .value("link_events_total", ["outcome": "applied"]) ?? 0)
            }
            return counts
        }

        /// Waits until every replica answers `status` for `code`.
        func expect(_ code: String, answers status: Int, timeout: Duration = .seconds(15)) async throws -> Bool {
            try await eventually(timeout: timeout) { try await statuses(code).allSatisfy { $0 == status } }
        }

        func stop() async {
            for service in replicas + [outbox, master] { _ = await service.process.stop() }
        }
    }

    @Test func aliasesExpiryAndVisitLimitsEndIn410OnEveryReplica() async throws {
        let stack = try await Stack()
        let alias = "promo-\(Int.random(in: 1000...9999))"
        let created = try await stack.create(#"{"url":"https://example.com/alias","alias":"\#(alias)"}"#)
        #expect(created.status == 201)
        #expect(created.json["code"] as? String == alias)
        #expect(try await stack.create(#"{"url":"https://example.com/other","alias":"\#(alias)"}"#).status == 409)
        #expect(try await stack.create(#"{"url":"https://example.com/x","alias":"metrics"}"#).status == 400)
        #expect(try await stack.create(#"{"url":"https://example.com/x","alias":"a b"}"#).status == 400)
        #expect(try await stack.create(#"{"url":"https://example.com/x","max_clicks":0}"#).status == 400)
        #expect(
            try await stack.create(#"{"url":"https://example.com/x","expires_at":"2001-01-01T00:00:00Z"}"#).status
                == 400)
        #expect(try await stack.expect(alias, answers: 302))

        // Expiry: redirects until the time, then gone, decided by each replica alone. The time
        // leaves room for both replicas to learn of the link on a loaded machine first.
        let expiry = RFC3339.format(Date().addingTimeInterval(8))
        let expiring = try await stack.create(#"{"url":"https://example.com/soon","expires_at":"\#(expiry)"}"#)
        let expiringCode = try #require(expiring.json["code"] as? String)
        #expect(try await stack.expect(expiringCode, answers: 302))
        #expect(try await stack.expect(expiringCode, answers: 410, timeout: .seconds(15)))

        // A visit limit: the master sums the replicas' counts, and its total stops every replica.
        let before = try await stack.appliedEvents()
        let limited = try await stack.create(#"{"url":"https://example.com/limited","max_clicks":3}"#)
        let limitedCode = try #require(limited.json["code"] as? String)
        #expect(try await eventually { try await stack.appliedEvents() == before.map { $0 + 1 } })
        let (a, b) = (stack.replicas[0], stack.replicas[1])
        // Neither replica reaches the limit alone (b: 1, a: 2), so every visit is counted; their
        // sum on the master (3) reaches it, and link.exhausted stops both. (A replica that
        // reaches the limit by itself stops at once: aOneTimeLinkOpensAtMostOncePerReplica.)
        #expect(try await TestHTTP.get("\(b.url)/\(limitedCode)").status == 302)
        for visit in 1...2 {
            let answer = try await TestHTTP.get("\(a.url)/\(limitedCode)")
            #expect(answer.status == 302, "visit \(visit) on a answered \(answer.status): \(answer.body)")
        }
        let exhausted = try await eventually {
            try await TestHTTP.get("\(stack.master.url)/api/links/\(limitedCode)").json["status"] as? String
                == "exhausted"
        }
        #expect(exhausted)
        #expect(
            try await eventually { try await stack.appliedEvents() == before.map { $0 + 2 } }, "link.exhausted applied")
        #expect(try await TestHTTP.get("\(a.url)/\(limitedCode)").status == 410)
        #expect(try await TestHTTP.get("\(b.url)/\(limitedCode)").status == 410)
        let details = try await TestHTTP.get("\(stack.master.url)/api/links/\(limitedCode)")
        #expect(details.json["max_clicks"] as? Int == 3)
        #expect(details.json["clicks"] as? Int == 3, "the 410s are not counted")
        await stack.stop()
    }

    @Test func aOneTimeLinkOpensAtMostOncePerReplica() async throws {
        let stack = try await Stack()
        let before = try await stack.appliedEvents()
        let once = try await stack.create(#"{"url":"https://example.com/once","max_clicks":1}"#)
        let code = try #require(once.json["code"] as? String)
        #expect(try await eventually { try await stack.appliedEvents() == before.map { $0 + 1 } })
        // 40 visitors at once on each replica: the stated bound is replicas × max_clicks = 2 in
        // all, at most 1 on each.
        let redirects = try await withThrowingTaskGroup(of: (Int, Int).self) { group in
            for (index, replica) in stack.replicas.enumerated() {
                for _ in 0..<40 {
                    group.addTask { (index, try await TestHTTP.get("\(replica.url)/\(code)").status == 302 ? 1 : 0) }
                }
            }
            return try await group.reduce(into: [0, 0]) { $0[$1.0] += $1.1 }
        }
        #expect(redirects.allSatisfy { $0 <= 1 }, "per replica: \(redirects)")
        #expect((1...2).contains(redirects.reduce(0, +)), "in all: \(redirects)")
        // Once the master has the sum, every replica answers 410.
        #expect(try await stack.expect(code, answers: 410))
        await stack.stop()
    }

    @Test func deletionAnswers410EverywhereAndTheCodeIsNeverIssuedAgain() async throws {
        let stack = try await Stack()
        let alias = "gone-\(Int.random(in: 1000...9999))"
        #expect(try await stack.create(#"{"url":"https://example.com/del","alias":"\#(alias)"}"#).status == 201)
        #expect(try await stack.expect(alias, answers: 302))

        #expect(try await TestHTTP.delete("\(stack.master.url)/api/links/\(alias)").status == 204)
        #expect(try await TestHTTP.delete("\(stack.master.url)/api/links/\(alias)").status == 204)
        #expect(try await TestHTTP.delete("\(stack.master.url)/api/links/nosuchcode").status == 404)
        #expect(try await stack.expect(alias, answers: 410))
        #expect(try await TestHTTP.get("\(stack.master.url)/api/links/\(alias)").json["status"] as? String == "deleted")
        #expect(try await stack.create(#"{"url":"https://example.com/again","alias":"\#(alias)"}"#).status == 409)
        await stack.stop()
    }

    @Test func listingPagesNewestFirst() async throws {
        let stack = try await Stack()
        var codes: [String] = []
        for index in 0..<5 {
            let reply = try await stack.create(#"{"url":"https://example.com/list/\#(index)"}"#)
            codes.append(try #require(reply.json["code"] as? String))
        }
        var listed: [String] = []
        var cursor: String?
        var pages = 0
        repeat {
            let query = "limit=2" + (cursor.map { "&cursor=\($0)" } ?? "")
            let page = try await TestHTTP.get("\(stack.master.url)/api/links?\(query)")
            #expect(page.status == 200)
            let links = try #require(page.json["links"] as? [[String: Any]])
            #expect(links.count <= 2)
            listed += links.compactMap { $0["code"] as? String }
            #expect(links.allSatisfy { $0["clicks"] as? Int == 0 && $0["status"] as? String == "active" })
            cursor = page.json["next_cursor"] as? String
            pages += 1
        } while cursor != nil && pages < 10
        #expect(listed == codes.reversed())
        #expect(pages == 3)
        #expect(try await TestHTTP.get("\(stack.master.url)/api/links?limit=0").status == 400)
        #expect(try await TestHTTP.get("\(stack.master.url)/api/links?cursor=nonsense").status == 400)
        await stack.stop()
    }

    @Test func apiKeysGuardTheWriteEndpointsOnceOneExists() async throws {
        let stack = try await Stack()
        #expect(try await stack.create(#"{"url":"https://example.com/open"}"#).status == 201)

        let environment = [
            "SHORTENER_NAMESPACE": stack.deployment.namespace.name,
            "SHORTENER_PG_PORT": String(stack.deployment.postgresPort),
        ]
        let create = try ServiceProcess(
            "master", arguments: ["keys", "create", "--name", "ci"], environment: environment)
        #expect(try await create.waitForExit() == 0)
        let output = create.logTail()
        let words = output.split(whereSeparator: \.isWhitespace)
        let secret = try #require(words.first { $0.hasPrefix("sk_") }.map { String($0) })
        let id = try #require(words.first { $0.hasPrefix("key_") }.map { String($0) })

        let keysEnforced = try await eventually(timeout: .seconds(10)) {
            try await stack.create(#"{"url":"https://example.com/nokey"}"#).status == 401
        }
        #expect(keysEnforced)
        let refused = try await stack.create(#"{"url":"https://example.com/nokey"}"#)
        #expect(refused.headers["www-authenticate"] == "Bearer")
        #expect(refused.json["error"] != nil)
        #expect(
            try await stack.create(#"{"url":"https://example.com/x"}"#, headers: ["Authorization": "Bearer sk_wrong"])
                .status == 401)
        let bearer = ["Authorization": "Bearer \(secret)"]
        let allowed = try await stack.create(#"{"url":"https://example.com/withkey"}"#, headers: bearer)
        #expect(allowed.status == 201)
        let code = try #require(allowed.json["code"] as? String)
        #expect(try await TestHTTP.delete("\(stack.master.url)/api/links/\(code)").status == 401)
        #expect(try await TestHTTP.delete("\(stack.master.url)/api/links/\(code)", headers: bearer).status == 204)
        // Reads need the key too: nobody lists the links without one.
        #expect(try await TestHTTP.get("\(stack.master.url)/api/links/\(code)").status == 401)
        #expect(try await TestHTTP.get("\(stack.master.url)/api/links").status == 401)
        #expect(try await TestHTTP.get("\(stack.master.url)/api/links/\(code)", headers: bearer).status == 200)
        #expect(try await TestHTTP.get("\(stack.master.url)/api/links", headers: bearer).status == 200)

        let list = try ServiceProcess("master", arguments: ["keys", "list"], environment: environment)
        #expect(try await list.waitForExit() == 0, "\(list.logTail())")
        #expect(list.logTail().contains(id) && !list.logTail().contains(secret), "list shows ids, never secrets")
        let revoke = try ServiceProcess("master", arguments: ["keys", "revoke", id], environment: environment)
        #expect(try await revoke.waitForExit() == 0)
        let revoked = try await eventually(timeout: .seconds(10)) {
            try await stack.create(#"{"url":"https://example.com/late"}"#, headers: bearer).status == 401
        }
        #expect(revoked)
        // Revoking the last key does not open the endpoints again.
        #expect(try await stack.create(#"{"url":"https://example.com/late"}"#).status == 401)

        // The audit trail holds every change, in order, with the key that made it; no refusal.
        var trail: [[String: Any]] = []
        let audited = try await eventually(timeout: .seconds(20)) {
            let tail = try ServiceProcess(
                "master", arguments: ["audit", "tail", "--exit-at-end", "--log-level", "warning"],
                environment: environment)
            guard try await tail.waitForExit(timeout: .seconds(30)) == 0 else { return false }
            trail = tail.logTail(lines: 200).split(separator: "\n").compactMap {
                (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any]
            }
            return trail.contains { $0["action"] as? String == "key.revoked" }
        }
        #expect(audited)
        #expect(
            trail.compactMap { $0["action"] as? String }
                == ["link.created", "key.created", "link.created", "link.deleted", "key.revoked"], "\(trail)")
        #expect(trail.filter { $0["actor_key_id"] as? String == id }.count == 2, "the keyed create and delete")
        await stack.stop()
    }

    @Test func aDeploymentRegistersItsOwnSecretOnceAtEveryStart() async throws {
        let stack = try await Stack()
        let secret = "sk_" + String(repeating: "d3pl0y", count: 6)
        let environment = [
            "SHORTENER_NAMESPACE": stack.deployment.namespace.name,
            "SHORTENER_PG_PORT": String(stack.deployment.postgresPort), "DEPLOY_KEY": secret,
            "SHORT_KEY": "sk_short",
        ]
        func register(_ variable: String) async throws -> (status: Int32, output: String) {
            let process = try ServiceProcess(
                "master", arguments: ["keys", "create", "--name", "compose", "--secret-env", variable],
                environment: environment)
            return (try await process.waitForExit(), process.logTail())
        }
        let first = try await register("DEPLOY_KEY")
        #expect(first.status == 0 && first.output.contains("Registered API key"), "\(first.output)")
        let again = try await register("DEPLOY_KEY")
        #expect(again.status == 0 && again.output.contains("is there already"), "\(again.output)")
        #expect(!first.output.contains(secret) && !again.output.contains(secret), "the secret is never printed")
        let short = try await register("SHORT_KEY")
        #expect(short.status != 0 && short.output.contains("at least 32"), "\(short.output)")
        let bearer = ["Authorization": "Bearer \(secret)"]
        #expect(try await eventually { try await stack.create(#"{"url":"https://example.com/k"}"#).status == 401 })
        #expect(try await stack.create(#"{"url":"https://example.com/k"}"#, headers: bearer).status == 201)
        await stack.stop()
    }

    @Test func createsOverTheRateLimitAnswer429WithRetryAfter() async throws {
        // One token per 30 s: the four creates need not be fast, even on a busy CI machine (four
        // took 20 s once while the other end-to-end suites started their services).
        let stack = try await Stack(environment: [
            "SHORTENER_CREATE_RATE_LIMIT": "0.0334", "SHORTENER_CREATE_RATE_BURST": "3",
        ])
        let started = ContinuousClock.now
        var statuses: [Int] = []
        var lastReply: TestHTTP.Reply?
        for index in 0..<4 {
            let reply = try await stack.create(#"{"url":"https://example.com/rate/\#(index)"}"#)
            statuses.append(reply.status)
            lastReply = reply
        }
        try #require(ContinuousClock.now - started < .seconds(29), "the machine was too slow to tell")
        #expect(statuses == [201, 201, 201, 429], "\(statuses)")
        let retryAfter = try #require(lastReply?.headers["retry-after"].flatMap { Int($0) })
        #expect((1...30).contains(retryAfter))
        #expect((lastReply?.json["error"] as? [String: Any])?["code"] as? String == "rate_limited")
        try await Task.sleep(for: .seconds(retryAfter) + .milliseconds(100))
        #expect(try await stack.create(#"{"url":"https://example.com/rate/after"}"#).status == 201)
        await stack.stop()
    }

    @Test func aRepeatedIdempotencyKeyReturnsTheSameLink() async throws {
        let stack = try await Stack()
        let body = #"{"url":"https://example.com/once"}"#
        let key = ["Idempotency-Key": "order-\(UUID().uuidString)"]
        let first = try await stack.create(body, headers: key)
        let second = try await stack.create(body, headers: key)
        #expect(first.status == 201 && second.status == 201)
        #expect(first.json["code"] as? String != nil)
        #expect(second.json["code"] as? String == first.json["code"] as? String)
        #expect(first.headers["idempotent-replayed"] == nil)
        #expect(second.headers["idempotent-replayed"] == "true")
        #expect(try await stack.create(#"{"url":"https://example.com/different"}"#, headers: key).status == 422)
        let page = try await TestHTTP.get("\(stack.master.url)/api/links")
        #expect((page.json["links"] as? [[String: Any]])?.count == 1, "one link, not two")
        await stack.stop()
    }
}
