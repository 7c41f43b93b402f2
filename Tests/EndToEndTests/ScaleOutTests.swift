import Foundation
import TestSupport
import Testing

/// Scale-out on one machine with the real executables: two masters, two outbox relays, three
/// replicas (each with its own Redis) and two notifiers on the dev broker. Creates and edits go
/// to both masters, clicks to every replica, and the active relay is killed with SIGKILL in
/// the middle: the standby takes over within 5 s, and no link is lost or reordered.
@Suite struct ScaleOutTests {
    @Test func twoOfEachWithAStandbyRelayTakingOverLosesAndReordersNothing() async throws {
        let receiver = try await WebhookTests.Receiver()
        defer { receiver.stop() }
        var redis: [PrivateRedis] = []
        for _ in 0..<3 { redis.append(try await PrivateRedis()) }
        defer { for server in redis { server.remove() } }
        let namespace = try await TestStack.makeNamespace()
        var deployment = try TestDeployment(namespace: namespace)
        deployment.environment = [
            "SHORTENER_WEBHOOK_URLS": receiver.url, "SHORTENER_WEBHOOK_SECRET": "scale-out",
            "SHORTENER_WEBHOOK_ALLOW_PRIVATE": "true",
        ]
        try await deployment.migrate()
        let masters = try (0..<2).map { _ in try deployment.master() }
        let relays = try (0..<2).map { _ in try deployment.outbox() }
        let replicas = try ["a", "b", "c"].enumerated().map { index, id in
            try deployment.replica(id, redisPort: redis[index].port)
        }
        let notifiers = try (0..<2).map { _ in try deployment.notifier() }
        let everything = masters + relays + replicas + notifiers
        defer { for service in everything { service.process.crash() } }
        for service in everything { try await service.waitUntilHealthy() }

        // The active relay is the one that said so.
        var active: TestDeployment.Running?
        _ = await eventually(timeout: .seconds(10)) {
            active = relays.first { $0.process.logTail(lines: 400).contains("Active outbox relay") }
            return active != nil
        }
        let killed = try #require(active, "no relay became active")
        let standby = try #require(relays.first { $0.port != killed.port })

        // Creates through both masters; the active relay dies a third of the way through, and
        // the standby must say it is active within 5 s while the creates go on.
        var links: [String: String] = [:]  // code → the URL it must redirect to
        var killedAt: ContinuousClock.Instant?
        var takeover: Duration?
        func checkTakeover() {
            if let killedAt, takeover == nil, standby.process.logTail(lines: 400).contains("Active outbox relay") {
                takeover = ContinuousClock.now - killedAt
            }
        }
        for index in 0..<240 {
            if index == 80 {
                killed.process.crash()
                killedAt = .now
            }
            let url = "https://example.com/scale/\(index)"
            let reply = try await TestHTTP.post("\(masters[index % 2].url)/create", body: #"{"url":"\#(url)"}"#)
            try #require(reply.status == 201, "create \(index): \(reply.status) \(reply.body)")
            links[try #require(reply.json["code"] as? String)] = url
            checkTakeover()
        }
        while takeover == nil, let killedAt, ContinuousClock.now - killedAt < .seconds(6) {
            try await Task.sleep(for: .milliseconds(50))
            checkTakeover()
        }
        let tookOver = try #require(takeover, "the standby relay never took over:\n\(standby.process.logTail())")
        #expect(tookOver < .seconds(5), "the standby relay took \(tookOver) to take over")

        // Two edits each for 40 links, alternating masters: the replicas must end on the last.
        for (number, code) in links.keys.sorted().prefix(40).enumerated() {
            for version in 2...3 {
                let url = "https://example.com/scale/\(code)/v\(version)"
                let reply = try await TestHTTP.patch(
                    "\(masters[(number + version) % 2].url)/api/links/\(code)", body: #"{"url":"\#(url)"}"#)
                try #require(reply.status == 200, "edit \(code): \(reply.status) \(reply.body)")
                links[code] = url
            }
        }

        // Every link redirects to its latest URL on every replica. Each 302 counts a click.
        var expected: [String: Int] = [:]
        var pending = Set(replicas.indices.flatMap { replica in links.keys.map { "\(replica) \($0)" } })
        let deadline = ContinuousClock.now + .seconds(30)
        while !pending.isEmpty && ContinuousClock.now < deadline {
            for item in pending {
                let parts = item.split(separator: " ")
                let (replica, code) = (Int(parts[0])!, String(parts[1]))
                let reply = try await TestHTTP.get("\(replicas[replica].url)/\(code)")
                if reply.status == 302 { expected[code, default: 0] += 1 }
                if reply.status == 302 && reply.headers["location"] == links[code] { pending.remove(item) }
            }
            if !pending.isEmpty { try await Task.sleep(for: .milliseconds(200)) }
        }
        #expect(pending.isEmpty, "\(pending.count) redirects missing or stale, e.g. \(pending.prefix(5))")

        // More clicks, on every replica.
        let clicked = Array(links.keys.sorted().suffix(30))
        for (number, code) in clicked.enumerated() {
            for click in 0..<(number % 5 + 1) {
                let reply = try await TestHTTP.get("\(replicas[(number + click) % 3].url)/\(code)")
                try #require(reply.status == 302)
                expected[code, default: 0] += 1
            }
        }
        let exact = try await eventually(timeout: .seconds(30)) {
            for code in clicked + links.keys.sorted().prefix(30) {
                let details = try await TestHTTP.get("\(masters[0].url)/api/links/\(code)").json
                guard details["clicks"] as? Int == expected[code] else { return false }
            }
            return true
        }
        var mismatches: [String] = []
        for code in clicked + links.keys.sorted().prefix(30) {
            let clicks = try await TestHTTP.get("\(masters[0].url)/api/links/\(code)").json["clicks"] as? Int
            if clicks != expected[code] { mismatches.append("\(code): \(clicks ?? -1) != \(expected[code] ?? 0)") }
        }
        #expect(
            exact,
            """
            click totals are not exact on the master: \(mismatches.prefix(10))
            replica a:\n\(replicas[0].process.logTail(lines: 15))
            master:\n\(masters[0].process.logTail(lines: 15))
            """)

        // Each event reaches the receiver; after deduplication by event id, once: one
        // link.created per link and two link.updated per edited link.
        let edited = Set(links.keys.sorted().prefix(40))
        func distinct(_ event: String) -> [String: Set<String>] {
            var ids: [String: Set<String>] = [:]
            for call in receiver.received() where call.event == event {
                if let code = call.json["code"] as? String { ids[code, default: []].insert(call.eventID) }
            }
            return ids
        }
        let delivered = await eventually(timeout: .seconds(30)) {
            distinct("link.created").count >= links.count
                && distinct("link.updated").values.reduce(0) { $0 + $1.count } >= 2 * edited.count
        }
        #expect(delivered, "not every event reached the receiver")
        let created = distinct("link.created")
        let updated = distinct("link.updated")
        #expect(Set(created.keys) == Set(links.keys))
        #expect(created.values.allSatisfy { $0.count == 1 }, "one link.created event id per link")
        #expect(Set(updated.keys) == edited)
        #expect(updated.values.allSatisfy { $0.count == 2 }, "two link.updated event ids per edited link")
    }
}
