import Foundation
import NIOConcurrencyHelpers
import TestSupport
import Testing

/// Click analytics with the real executables: clicks with mixed headers through both replicas,
/// a replica killed and a Kafka outage in the middle; at rest the series, every dimension and
/// bots plus humans all sum to the link's exact clicks.
@Suite struct ClickAnalyticsTests {
    /// The headers of one click, and whether the rule table calls it a bot.
    struct Client: Sendable {
        let userAgent: String?
        let isBot: Bool
    }

    static let clients = [
        Client(
            userAgent:
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36",
            isBot: false),
        Client(
            userAgent:
                "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1",
            isBot: false),
        Client(
            userAgent:
                "Mozilla/5.0 (Linux; Android 13; SM-X700) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/119.0 Safari/537.36",
            isBot: false),
        Client(userAgent: "curl/8.4.0", isBot: true),
        Client(userAgent: "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", isBot: true),
        Client(userAgent: nil, isBot: true),
        Client(userAgent: "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0", isBot: false),
    ]
    /// Eight referrer hosts and two special cases: more than the cap of 5 per link.
    static let referers: [String?] = [
        nil, "https://www.google.com/search?q=x", "https://t.co/abc", "not a url", "https://news.ycombinator.com/",
        "https://a.example/", "https://b.example/", "https://c.example/", "https://d.example/",
        "http://e.example:8080/",
    ]
    /// Client addresses, as the trusted proxy (127.0.0.1) forwards them.
    static let addresses = ["8.8.8.8", "81.2.69.160", "2001:4860:4860::8888", "10.0.0.1"]

    @Test func seriesDimensionsAndBotsAddUpToTheExactClicksThroughAKillAndAnOutage() async throws {
        let namespace = try await TestStack.makeNamespace()
        let broker = try await PrivateBroker(namespace: namespace)
        var deployment = try TestDeployment(namespace: namespace, kafkaBrokers: broker.bootstrapServers)
        deployment.environment = ["SHORTENER_TRUSTED_PROXIES": "127.0.0.1", "SHORTENER_STATS_MAX_KEYS": "5"]
        let redisPorts = try TestStack.redisPorts
        let master = try deployment.master()
        let outbox = try deployment.outbox()
        var replicas = [
            try deployment.replica("a", redisPort: redisPorts[0]),
            try deployment.replica("b", redisPort: redisPorts[1]),
        ]
        defer { for service in [master, outbox] + replicas { service.process.crash() } }
        for service in [master, outbox] + replicas { try await service.waitUntilHealthy() }

        var codes: [String] = []
        for index in 0..<3 {
            let reply = try await TestHTTP.post(
                "\(master.url)/create", body: #"{"url":"https://example.com/stats/\#(index)"}"#)
            codes.append(try #require(reply.json["code"] as? String))
        }
        for replica in replicas {
            for code in codes {
                #expect(try await eventually { try await TestHTTP.get("\(replica.url)/\(code)").status == 302 })
            }
        }
        // The clicks the link checks above made: a desktop with no User-Agent header? No: TestHTTP
        // sends none, so they count as bots, like every click from a client without one.
        let served = NIOLockedValueBox([String: Int](uniqueKeysWithValues: codes.map { ($0, 2) }))
        let bots = NIOLockedValueBox([String: Int](uniqueKeysWithValues: codes.map { ($0, 2) }))
        let counter = NIOLockedValueBox(0)

        func click(_ count: Int, on targets: [TestDeployment.Running]) async throws {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<count {
                    let index = counter.withLockedValue { value in
                        defer { value += 1 }
                        return value
                    }
                    let code = codes[index % codes.count]
                    let client = Self.clients[index % Self.clients.count]
                    var headers = ["X-Forwarded-For": "203.0.113.9, \(Self.addresses[index % Self.addresses.count])"]
                    if let agent = client.userAgent { headers["User-Agent"] = agent }
                    if let referer = Self.referers[index % Self.referers.count] { headers["Referer"] = referer }
                    let replica = targets[index % targets.count]
                    group.addTask {
                        let reply = try await TestHTTP.get("\(replica.url)/\(code)", headers: headers)
                        #expect(reply.status == 302)
                        guard reply.status == 302 else { return }
                        served.withLockedValue { $0[code, default: 0] += 1 }
                        if client.isBot { bots.withLockedValue { $0[code, default: 0] += 1 } }
                    }
                    if index % 50 == 49 { try await group.waitForAll() }
                }
                try await group.waitForAll()
            }
        }

        try await click(1000, on: replicas)
        // Replica a is killed between requests and started again on the same Redis.
        replicas[0].process.crash()
        replicas[0] = try deployment.replica("a", redisPort: redisPorts[0])
        try await replicas[0].waitUntilHealthy()
        try await click(1000, on: replicas)
        // Kafka goes away: redirects go on, and their counts wait in Redis.
        try await broker.setBroker(up: false)
        try await click(1000, on: replicas)
        try await broker.setBroker(up: true)

        let expected = served.withLockedValue { $0 }
        let expectedBots = bots.withLockedValue { $0 }
        for code in codes {
            let clicks = try #require(expected[code])
            var stats: [String: Any] = [:]
            let settled = try await eventually(timeout: .seconds(90)) {
                stats = try await TestHTTP.get("\(master.url)/api/links/\(code)/stats").json
                return stats["total"] as? Int == clicks
            }
            #expect(settled, "\(code): \(stats["total"] ?? "none") of \(clicks) clicks")
            let link = try await TestHTTP.get("\(master.url)/api/links/\(code)").json
            #expect(link["clicks"] as? Int == clicks)
            func sum(_ key: String, in object: [String: Any]) -> Int {
                (object[key] as? [[String: Any]] ?? []).reduce(0) { $0 + ($1["clicks"] as? Int ?? 0) }
            }
            #expect(sum("series", in: stats) == clicks, "\(code): the daily series")
            let hourly = try await TestHTTP.get(
                "\(master.url)/api/links/\(code)/stats?granularity=hour&from=\(Self.hoursAgo(2))"
            ).json
            #expect(sum("series", in: hourly) == clicks, "\(code): the hourly series")
            for dimension in ["referrers", "countries", "devices", "browsers", "os"] {
                #expect(sum(dimension, in: stats) == clicks, "\(code): \(dimension) \(stats[dimension] ?? "")")
            }
            #expect(stats["bots"] as? Int == expectedBots[code])
            let humans = try await TestHTTP.get("\(master.url)/api/links/\(code)/stats?exclude_bots=true").json
            #expect(humans["total"] as? Int == clicks - (expectedBots[code] ?? 0))
            #expect(sum("devices", in: humans) == clicks - (expectedBots[code] ?? 0))
            // Five referrer hosts per link and replica, the rest as "other".
            let referrers = (stats["referrers"] as? [[String: Any]] ?? []).compactMap { $0["value"] as? String }
            // Which five a replica keeps depends on the order the clicks came in.
            #expect(referrers.contains("other") && referrers.count <= 11, "\(referrers)")
            let countries = (stats["countries"] as? [[String: Any]] ?? []).compactMap { $0["value"] as? String }
            #expect(Set(countries).isSuperset(of: ["US", "unknown"]), "\(countries)")
            let devices = (stats["devices"] as? [[String: Any]] ?? []).compactMap { $0["value"] as? String }
            #expect(Set(devices).isSuperset(of: ["desktop", "mobile", "tablet", "bot"]), "\(devices)")
        }
        let overall = try await TestHTTP.get("\(master.url)/api/stats?from=\(Self.hoursAgo(2))").json
        #expect(overall["total"] as? Int == expected.values.reduce(0, +))
        #expect((overall["links"] as? [[String: Any]])?.count == 3)
        for service in [master, outbox] + replicas { #expect(await service.process.stop() == 0) }
        await broker.remove()
    }

    /// An RFC 3339 time `hours` ago, URL-safe.
    static func hoursAgo(_ hours: Double) -> String {
        ISO8601DateFormatter().string(from: Date().addingTimeInterval(-3600 * hours))
    }
}
