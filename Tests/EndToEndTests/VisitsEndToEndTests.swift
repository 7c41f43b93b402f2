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

    /// Every visit event of `namespace`'s visits topic, read straight from the broker.
    static func topicVisits(_ namespace: Namespace) async throws -> [(key: String, event: VisitEvent)] {
        var visits: [(String, VisitEvent)] = []
        for partition in Int32(0)..<3 {
            let reader = try KafkaPartitionReader(
                bootstrapServers: TestStack.kafkaBrokers, groupID: "\(namespace.name)-visits-test",
                topic: namespace.visitsTopic, partition: partition, logger: Logger(label: "test"))
            let (low, high) = try await reader.bounds()
            var next = low
            while next < high {
                let messages = try await reader.read(from: next, before: high, maximum: 1000)
                for message in messages {
                    visits.append(
                        (
                            String(decoding: message.key ?? [], as: UTF8.self),
                            try EventCodec.decodeVisitEvent(message.value)
                        ))
                }
                next = (messages.last?.offset ?? high) + 1
            }
            await reader.shutdown()
        }
        return visits
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
        let stack = try await ServiceTrio(environment: ["SHORTENER_TRUSTED_PROXIES": "127.0.0.1/32"])
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
                all = try await Self.topicVisits(stack.deployment.namespace)
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
        let fromTopic = try await Self.topicVisits(stack.deployment.namespace).filter { $0.key == "visited" }
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
