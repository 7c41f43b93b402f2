import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import SharedConfiguration
import SharedEvents
import SharedKafka
import TestSupport
import Testing

/// Every visit as an event on `<ns>-visits`, on the real executables: what the replicas
/// publish, the master's pages of a link's visits and of the orphans, its live streams, and
/// what a broker outage costs (visits, never redirects or click totals).
@Suite struct VisitsEndToEndTests {
    /// Sends `count` visits of `path` to the replica, four at a time; the statuses seen.
    static func visit(
        _ path: String, times count: Int, on replica: TestDeployment.Running, headers: [String: String] = [:]
    ) async throws -> [Int: Int] {
        try await withThrowingTaskGroup(of: [Int: Int].self) { group in
            for lane in 0..<4 {
                group.addTask {
                    var statuses: [Int: Int] = [:]
                    for _ in stride(from: lane, to: count, by: 4) {
                        statuses[
                            try await TestHTTP.get("\(replica.url)\(path)", headers: headers).status, default: 0] +=
                            1
                    }
                    return statuses
                }
            }
            return try await group.reduce(into: [:]) { $0.merge($1, uniquingKeysWith: +) }
        }
    }

    /// Every visit in the visits topic of `stack`, on its own broker.
    static func topicVisits(_ stack: ServiceTrio) async throws -> [(key: String, event: VisitEvent)] {
        try await VisitsTopic.read(stack.deployment.namespace, brokers: stack.broker?.bootstrapServers)
    }

    /// Every page of `path` (a visits URL with its query), following `next_cursor`: the visits'
    /// event ids and times, in the order the pages gave them.
    static func allPages(_ url: String, limit: Int) async throws -> [(id: String, time: String)] {
        var visits: [(String, String)] = []
        var cursor: String?
        var pages = 0
        repeat {
            let separator = url.contains("?") ? "&" : "?"
            let reply = try await TestHTTP.get(
                url + separator + "limit=\(limit)" + (cursor.map { "&cursor=\($0)" } ?? ""))
            guard reply.status == 200 else { throw ServiceFailure("\(url): \(reply.status) \(reply.body)") }
            for visit in reply.json["visits"] as? [[String: Any]] ?? [] {
                visits.append((visit["event_id"] as? String ?? "", visit["occurred_at"] as? String ?? ""))
            }
            cursor = reply.json["next_cursor"] as? String
            pages += 1
            guard pages < 1000 else { throw ServiceFailure("more than 1000 pages") }
        } while cursor != nil
        return visits
    }

    @Test func everyVisitIsOneEventAndThePagesWalkThemWithoutGapsOrRepeats() async throws {
        // Their own broker: the visits of these tests are not the shared broker's to carry.
        let stack = try await ServiceTrio(environment: ["SHORTENER_TRUSTED_PROXIES": "127.0.0.1/32"], ownBroker: true)
        for body in [
            #"{"url":"https://example.com/visited","alias":"visited"}"#,
            #"{"url":"https://example.com/gone","alias":"gonenow"}"#,
        ] {
            #expect(try await TestHTTP.post("\(stack.master.url)/create", body: body).status == 201)
        }
        #expect(try await TestHTTP.delete("\(stack.master.url)/api/links/gonenow").status == 204)
        #expect(try await eventually { try await TestHTTP.get("\(stack.replica.url)/gonenow").status == 410 })
        #expect(try await eventually { try await TestHTTP.get("\(stack.replica.url)/visited").status == 302 })

        // One visit of each kind, with what the aggregates keep of its client.
        let iPhone = [
            "User-Agent":
                "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1",
            "Referer": "https://news.example/article?id=7", "X-Forwarded-For": "8.8.8.8",
        ]
        #expect(try await TestHTTP.get("\(stack.replica.url)/visited?marker=1", headers: iPhone).status == 302)
        #expect(try await TestHTTP.get("\(stack.replica.url)/gonenow", headers: iPhone).status == 410)
        #expect(try await TestHTTP.get("\(stack.replica.url)/nosuchcode", headers: iPhone).status == 404)
        #expect(try await TestHTTP.get("\(stack.replica.url)/", headers: iPhone).status == 404)
        #expect(try await TestHTTP.get("\(stack.replica.url)/not%20a%20code", headers: iPhone).status == 404)

        // Those five, told from the polls above by their referrer.
        var visits: [(key: String, event: VisitEvent)] = []
        var all: [(key: String, event: VisitEvent)] = []
        #expect(
            try await eventually(timeout: .seconds(20)) {
                all = try await Self.topicVisits(stack)
                visits = all.filter { $0.event.referrer == "news.example" }
                return visits.count >= 5
            }, "visits in the topic: \(visits.map(\.event))")
        let byOutcome = Dictionary(grouping: visits, by: { "\($0.event.outcome) \($0.event.code)" })
        let expected = ["302 visited": 1, "410 gonenow": 1, "404 nosuchcode": 1, "404 ": 1, "404 not%20a%20code": 1]
        #expect(byOutcome.mapValues(\.count) == expected, "\(byOutcome.keys.sorted())")
        let redirect = try #require(byOutcome["302 visited"]?.map(\.event).first { $0.device == "mobile" })
        #expect(redirect.country == "US" && redirect.os == "iOS" && redirect.browser == "Safari")
        #expect(redirect.referrer == "news.example" && redirect.bot == false && redirect.replicaID == "a")
        for (key, event) in all {
            #expect(key == event.key)
            #expect(event.isOrphan == (event.outcome == 404), "\(event)")
        }

        // The per-link pages: newest first, through 5,000 more visits, no gap, no repeat.
        let polls = all.filter { $0.event.code == "visited" && $0.event.referrer == "direct" }.count
        let statuses = try await Self.visit("/visited", times: 5000, on: stack.replica)
        #expect(statuses == [302: 5000])
        var pages: [(id: String, time: String)] = []
        #expect(
            try await eventually(timeout: .seconds(30)) {
                pages = try await Self.allPages("\(stack.master.url)/api/links/visited/visits", limit: 700)
                return pages.count >= 5001 + polls
            }, "\(pages.count) visits paged")
        #expect(pages.count == 5001 + polls && Set(pages.map(\.id)).count == 5001 + polls)
        // Newest first: the topic's order (one link's visits are on one partition), reversed.
        let fromTopic = try await Self.topicVisits(stack).filter { $0.key == "visited" }
        #expect(fromTopic.reversed().map { $0.event.eventID.uuidString.lowercased() } == pages.map(\.id))
        let times = pages.map(\.time).sorted(by: >)

        // from/to: exactly the visits made in [from, to).
        let from = times[3000]
        let to = times[1000]
        let window = try await Self.allPages(
            "\(stack.master.url)/api/links/visited/visits?from=\(from)&to=\(to)", limit: 333)
        let inWindow = pages.filter { $0.time >= from && $0.time < to }
        #expect(
            window.map(\.id) == inWindow.map(\.id) && !window.isEmpty,
            "\(window.count) paged, \(inWindow.count) in [\(from), \(to)): \(window.prefix(3)) \(inWindow.prefix(3))")

        // The orphans: every visit that found no link, and a bad query is refused.
        let orphans = try await Self.allPages("\(stack.master.url)/api/visits/orphans", limit: 2)
        #expect(orphans.count == all.filter(\.event.isOrphan).count && orphans.count >= 3)
        for query in [
            "limit=0", "limit=1001", "from=yesterday", "cursor=abc",
            "from=2026-12-02T00:00:00Z&to=2026-12-01T00:00:00Z",
        ] {
            let refused = try await TestHTTP.get("\(stack.master.url)/api/links/visited/visits?\(query)")
            #expect(refused.status == 400, "\(query): \(refused.status) \(refused.body)")
        }
        #expect(try await TestHTTP.get("\(stack.master.url)/api/links/nothere/visits").status == 404)
        await stack.stop()
    }
}

extension VisitsEndToEndTests {
    /// A client of a live stream: reads its events on a task of its own until `count` visits
    /// arrived, keeping their ids (`<partition>.<offset>`) in order.
    final class LiveReader: Sendable {
        /// Its own client, whose shutdown closes the stream's connection.
        let client = HTTPClient(
            eventLoopGroupProvider: .singleton,
            configuration: .init(timeout: .init(connect: .seconds(10), read: .seconds(60))))
        let visits: Task<[String], any Error>
        /// Resolved once the stream said `ready`.
        let ready: Task<Void, any Error>

        init(_ url: String, count: Int) {
            let (readySignal, readyContinuation) = AsyncStream<Void>.makeStream()
            visits = Task { [client] in
                let response = try await client.execute(HTTPClientRequest(url: url), timeout: .seconds(120))
                guard response.status == .ok else { throw ServiceFailure("\(url): \(response.status)") }
                var ids: [String] = []
                var pending = ""
                for try await chunk in response.body {
                    pending += String(buffer: chunk)
                    while let end = pending.range(of: "\n\n") {
                        let event = pending[..<end.lowerBound]
                        pending = String(pending[end.upperBound...])
                        if event.contains("event: ready") { readyContinuation.yield() }
                        if event.contains("event: visit"),
                            let id = event.split(separator: "\n").first(where: { $0.hasPrefix("id: ") })
                        {
                            ids.append(String(id.dropFirst(4)))
                        }
                    }
                    if ids.count >= count { break }
                }
                readyContinuation.finish()
                return ids
            }
            ready = Task {
                for await _ in readySignal { return }
                throw ServiceFailure("the stream ended before it was ready")
            }
        }

        /// Leaves the stream: its connection closes.
        func close() async { try? await client.shutdown() }
    }

    /// The resident memory of a process, from `/proc`.
    static func residentBytes(of pid: Int32) throws -> Int {
        let status = try String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)
        let line = try #require(status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") })
        return (Int(line.split(separator: " ")[1]) ?? 0) * 1024
    }

    @Test func twoLiveStreamsSeeTheSameVisitsAStalledOneIsCutOffAndTheMasterStaysFlat() async throws {
        let stack = try await ServiceTrio(ownBroker: true)
        #expect(
            try await TestHTTP.post("\(stack.master.url)/create", body: #"{"url":"https://e.com/live","alias":"live"}"#)
                .status == 201)
        #expect(try await eventually { try await TestHTTP.get("\(stack.replica.url)/live").status == 302 })

        // A client that asks for the stream and then reads nothing, with a small receive buffer.
        let port = try #require(Int(stack.master.url.split(separator: ":").last ?? ""))
        let stalled = try RawSocket(port: port, receiveBufferSize: 4096)
        #expect(stalled.send("GET /api/links/live/visits/live HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"))
        let visits = 20_000
        let readers = (0..<2).map { _ in LiveReader("\(stack.master.url)/api/links/live/visits/live", count: visits) }
        for reader in readers { try await reader.ready.value }
        #expect(
            try await eventually {
                try await PrometheusScrape.fetch("\(stack.master.url)/metrics").value("visit_streams") == 3
            })

        let warmUp = 2000
        #expect(try await Self.visit("/live", times: warmUp, on: stack.replica) == [302: warmUp])
        let before = try Self.residentBytes(of: stack.master.process.pid)
        #expect(try await Self.visit("/live", times: visits - warmUp, on: stack.replica) == [302: visits - warmUp])
        let first = try await readers[0].visits.value
        let second = try await readers[1].visits.value
        let after = try Self.residentBytes(of: stack.master.process.pid)
        for reader in readers { await reader.close() }
        #expect(first.count == visits && Set(first).count == visits)
        #expect(first == second, "both streams saw the same visits in the same order")
        #expect(
            after - before < 24 << 20,
            "the master grew by \(Double(after - before) / 1_048_576) MiB over \(visits - warmUp) visits")

        // The stalled client was cut off, never buffered for: its socket ends, and it is counted.
        let scrape = try await PrometheusScrape.fetch("\(stack.master.url)/metrics")
        #expect(scrape.value("visit_streams_dropped_total") == 1)
        let drained = await stalled.receive(timeout: .seconds(30))
        #expect(drained.closed, "the stalled stream's connection was closed")
        #expect(drained.text.contains("event: ready") && drained.text.contains("event: visit"))
        var open: Double?
        #expect(
            try await eventually(timeout: .seconds(20)) {
                open = try await PrometheusScrape.fetch("\(stack.master.url)/metrics").value("visit_streams")
                return open == 0
            }, "\(open.map { "\($0)" } ?? "no") streams open after every client left")
        await stack.stop()
    }

    @Test func withTheBrokerDownRedirectsAnswerVisitsAreDroppedAndCountedAndTotalsStayExact() async throws {
        let namespace = try await TestStack.makeNamespace()
        let broker = try await PrivateBroker(namespace: namespace)
        var deployment = try TestDeployment(namespace: namespace, kafkaBrokers: broker.bootstrapServers)
        // A small buffer and a short timeout, so that both ways of dropping show within the test.
        deployment.environment = [
            "SHORTENER_CLIENT_REPLICA_VISITS_QUEUE_BUFFERING_MAX_MESSAGES": "50",
            "SHORTENER_CLIENT_REPLICA_VISITS_MESSAGE_TIMEOUT_MS": "3000",
        ]
        let master = try deployment.master()
        let outbox = try deployment.outbox()
        let replica = try deployment.replica("a", redisPort: try TestStack.redisPorts[0])
        defer { for service in [master, outbox, replica] { service.process.crash() } }
        for service in [master, outbox, replica] { try await service.waitUntilHealthy() }
        #expect(
            try await TestHTTP.post("\(master.url)/create", body: #"{"url":"https://e.com/down","alias":"down"}"#)
                .status == 201)
        #expect(try await eventually { try await TestHTTP.get("\(replica.url)/down").status == 302 })

        /// The 90th percentile of `count` sequential redirects, in milliseconds.
        func redirectP90(_ count: Int) async throws -> Double {
            var times: [Double] = []
            for _ in 0..<count {
                let start = ContinuousClock.now
                #expect(try await TestHTTP.get("\(replica.url)/down").status == 302)
                times.append((ContinuousClock.now - start).inSeconds * 1000)
            }
            return times.sorted()[count * 9 / 10]
        }
        let up = try await redirectP90(400)
        try await broker.setBroker(up: false)
        let down = try await redirectP90(400)
        // The first 302 seen above, then the two rounds.
        let sent = 1 + 400 + 400
        // Past the message timeout: what was queued fails, and what came after the buffer filled
        // was never queued.
        try await Task.sleep(for: .seconds(5))
        #expect(down < max(up * 3, up + 20), "p90 \(down) ms with the broker down, \(up) ms with it up")
        let scrape = try await PrometheusScrape.fetch("\(replica.url)/metrics")
        let dropped = scrape.value("visits_dropped_total") ?? 0
        let undelivered = scrape.value("kafka_delivery_errors_total", ["topic": namespace.visitsTopic]) ?? 0
        // Lost both ways or one: the buffer full, or queued past the message timeout.
        #expect(dropped + undelivered > 0, "dropped \(dropped), undelivered \(undelivered)")
        #expect(try await TestHTTP.get("\(replica.url)/health/live").status == 200)
        try await broker.setBroker(up: true)

        // Every visit is in the topic or counted as lost (a visit that timed out in flight may be
        // both), once what was queued at the end of the outage has gone one way or the other.
        var published = 0
        var lost = 0.0
        #expect(
            try await eventually(timeout: .seconds(40)) {
                published = try await VisitsTopic.read(namespace, brokers: broker.bootstrapServers)
                    .filter { $0.key == "down" }.count
                let scrape = try await PrometheusScrape.fetch("\(replica.url)/metrics")
                lost =
                    (scrape.value("visits_dropped_total") ?? 0)
                    + (scrape.value("kafka_delivery_errors_total", ["topic": namespace.visitsTopic]) ?? 0)
                return published > 0 && Double(published) + lost >= Double(sent)
            }, "\(published) published and \(lost) lost of \(sent)")

        // The click totals are the counters' job: exact once the broker is back.
        var clicks = 0
        #expect(
            try await eventually(timeout: .seconds(60)) {
                clicks = try await TestHTTP.get("\(master.url)/api/links/down").json["clicks"] as? Int ?? 0
                return clicks == sent
            }, "\(clicks) clicks counted of \(sent)")
        for service in [replica, outbox, master] { _ = await service.process.stop() }
        await broker.remove()
    }
}
