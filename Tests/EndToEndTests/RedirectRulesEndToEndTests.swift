import Foundation
import SharedJSON
import TestSupport
import Testing

/// Redirect rules and A/B splits on the real executables: set on the master, carried in the
/// link events, decided on the replica from the visitor's request (user agent, languages,
/// the address a trusted proxy forwards, the query, the time), and counted per rule and
/// variant in the statistics.
@Suite struct RedirectRulesEndToEndTests {
    /// A master, a relay and a replica that trusts the loopback proxy's `X-Forwarded-For`.
    struct Stack {
        let services: ServiceTrio
        var master: TestDeployment.Running { services.master }
        var replica: TestDeployment.Running { services.replica }

        init() async throws {
            services = try await ServiceTrio(environment: ["SHORTENER_TRUSTED_PROXIES": "127.0.0.1/32, ::1/128"])
        }

        /// Where `GET /<path>` on the replica sends a visitor with these headers.
        func location(_ path: String, _ headers: [String: String] = [:]) async throws -> String? {
            let reply = try await TestHTTP.get("\(replica.url)/\(path)", headers: headers)
            return reply.status == 302 ? reply.headers["location"] : "status \(reply.status)"
        }

        /// The link's statistics once its clicks reached `clicks`.
        func stats(_ code: String, clicks: Int) async throws -> [String: Any] {
            var stats: [String: Any] = [:]
            let reported = try await eventually(timeout: .seconds(30)) {
                stats = try await TestHTTP.get("\(master.url)/api/links/\(code)/stats").json
                return stats["total"] as? Int == clicks
            }
            #expect(reported, "\(stats)")
            return stats
        }

        func stop() async { await services.stop() }
    }

    static let iPhone =
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1"
    static let pixel =
        "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Mobile Safari/537.36"
    static let iPad =
        "Mozilla/5.0 (iPad; CPU OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1"
    static let firefox = "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0"
    static let chrome =
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36"

    /// Values of one dimension of a stats answer, by value.
    static func values(_ stats: [String: Any], _ dimension: String) -> [String: Int] {
        var values: [String: Int] = [:]
        for item in stats[dimension] as? [[String: Any]] ?? [] {
            if let value = item["value"] as? String, let clicks = item["clicks"] as? Int { values[value] = clicks }
        }
        return values
    }

    @Test func everyConditionDecidesOnTheReplicaAndEachRuleIsCounted() async throws {
        let stack = try await Stack()
        let opens = RFC3339.format(Date().addingTimeInterval(15))
        let rules = """
            [
              {"when":{"device":["mobile"],"os":["ios"]},"url":"https://apps.apple.com/app/1"},
              {"when":{"device":["mobile","tablet"]},"url":"https://m.example.com/"},
              {"when":{"browser":["firefox"]},"url":"https://example.com/firefox"},
              {"when":{"language":["de"]},"url":"https://example.de/"},
              {"when":{"country":["US"]},"url":"https://example.com/us"},
              {"when":{"query":["promo"]},"url":"https://example.com/promo"},
              {"when":{"query":["ref=mail list"]},"url":"https://example.com/mail"},
              {"when":{"ip":["203.0.113.0/24","2001:db8::/32"]},"url":"https://example.com/office"},
              {"when":{"after":"\(opens)","query":["timed"]},"url":"https://example.com/opened"}
            ]
            """
        let created = try await TestHTTP.post(
            "\(stack.master.url)/create",
            body: #"{"url":"https://example.com/default","alias":"ruled","rules":\#(rules)}"#)
        #expect(created.status == 201, "\(created.body)")
        let read = try await TestHTTP.get("\(stack.master.url)/api/links/ruled")
        #expect((read.json["rules"] as? [[String: Any]])?.count == 9, "\(read.body)")
        #expect(read.json["split"] is NSNull)

        let desktop = ["User-Agent": Self.chrome]
        #expect(try await eventually { try await stack.location("ruled", desktop) == "https://example.com/default" })
        // Before `after`: the timed rule does not hold yet.
        #expect(try await stack.location("ruled?timed", desktop) == "https://example.com/default?timed")
        #expect(try RFC3339.parse(opens).timeIntervalSinceNow > 0, "the check above ran before the rule opened")
        // The table: a request, and where it goes; every condition, first match wins.
        let cases: [(path: String, headers: [String: String], target: String, rule: String)] = [
            ("ruled", ["User-Agent": Self.iPhone], "https://apps.apple.com/app/1", "1"),
            ("ruled", ["User-Agent": Self.pixel], "https://m.example.com/", "2"),
            ("ruled", ["User-Agent": Self.iPad], "https://m.example.com/", "2"),
            ("ruled", ["User-Agent": Self.firefox], "https://example.com/firefox", "3"),
            ("ruled", ["User-Agent": Self.firefox, "Accept-Language": "de"], "https://example.com/firefox", "3"),
            ("ruled", desktop.merging(["Accept-Language": "fr-CH, de-AT;q=0.8"]) { $1 }, "https://example.de/", "4"),
            (
                "ruled", desktop.merging(["Accept-Language": "fr-CH, de;q=0"]) { $1 }, "https://example.com/default",
                "default"
            ),
            ("ruled", desktop.merging(["X-Forwarded-For": "8.8.8.8"]) { $1 }, "https://example.com/us", "5"),
            ("ruled?promo", desktop, "https://example.com/promo?promo", "6"),
            ("ruled?x=1&promo=yes", desktop, "https://example.com/promo?x=1&promo=yes", "6"),
            ("ruled?ref=mail+list", desktop, "https://example.com/mail?ref=mail+list", "7"),
            ("ruled?ref=mail", desktop, "https://example.com/default?ref=mail", "default"),
            ("ruled", desktop.merging(["X-Forwarded-For": "203.0.113.9"]) { $1 }, "https://example.com/office", "8"),
            ("ruled", desktop.merging(["X-Forwarded-For": "2001:db8::1"]) { $1 }, "https://example.com/office", "8"),
            (
                "ruled", desktop.merging(["X-Forwarded-For": "198.51.100.1"]) { $1 }, "https://example.com/default",
                "default"
            ),
            ("ruled", desktop, "https://example.com/default", "default"),
        ]
        var fired: [String: Int] = ["default": 2]
        for (path, headers, target, rule) in cases {
            #expect(try await stack.location(path, headers) == target, "\(path) \(headers)")
            fired[rule, default: 0] += 1
        }
        // A time window, on the replica's clock: the rule holds from `after` on.
        try await Task.sleep(until: .now + .seconds(max(0, try RFC3339.parse(opens).timeIntervalSinceNow + 0.5)))
        #expect(try await stack.location("ruled?timed", desktop) == "https://example.com/opened?timed")
        fired["9"] = 1
        let total = fired.values.reduce(0, +)
        let stats = try await stack.stats("ruled", clicks: total)
        #expect(Self.values(stats, "rules") == fired, "each rule's clicks, exactly")
        #expect(Self.values(stats, "variants").isEmpty)

        // The preview decides as the replica does, for a described visitor.
        let preview = try await TestHTTP.post(
            "\(stack.master.url)/api/routing/preview",
            body: #"{"url":"https://example.com/default","rules":\#(rules),"visitor":{"device":"mobile","os":"ios"}}"#)
        #expect(preview.json["rule"] as? String == "1", "\(preview.body)")
        #expect(preview.json["target"] as? String == "https://apps.apple.com/app/1")
        let german = try await TestHTTP.post(
            "\(stack.master.url)/api/routing/preview",
            body: #"{"url":"https://example.com/default","rules":\#(rules),"visitor":{"language":"fr, de-AT;q=0.5"}}"#)
        #expect(german.json["target"] as? String == "https://example.de/", "\(german.body)")
        let nobody = try await TestHTTP.post(
            "\(stack.master.url)/api/routing/preview", body: #"{"url":"https://example.com/default","rules":\#(rules)}"#
        )
        #expect(nobody.json["rule"] as? String == "default" && nobody.json["variant"] is NSNull)
        for visitor in [#"{"device":"phone"}"#, #"{"bucket":100}"#, #"{"ip":"x"}"#, #"{"mood":"happy"}"#] {
            let refused = try await TestHTTP.post(
                "\(stack.master.url)/api/routing/preview", body: #"{"url":"https://e.com/","visitor":\#(visitor)}"#)
            #expect(refused.status == 400, "\(visitor): \(refused.body)")
        }

        // An edit reaches the replica with the next visit: the new rules decide at once.
        let edited = try await TestHTTP.patch(
            "\(stack.master.url)/api/links/ruled",
            body: #"{"rules":[{"when":{"device":["desktop"]},"url":"https://example.com/desk"}]}"#)
        #expect(edited.status == 200, "\(edited.body)")
        #expect(try await eventually { try await stack.location("ruled", desktop) == "https://example.com/desk" })
        #expect(try await stack.location("ruled", ["User-Agent": Self.iPhone]) == "https://example.com/default")
        let cleared = try await TestHTTP.patch("\(stack.master.url)/api/links/ruled", body: #"{"rules":[]}"#)
        #expect(cleared.status == 200 && (cleared.json["rules"] as? [Any])?.isEmpty == true)
        #expect(try await eventually { try await stack.location("ruled", desktop) == "https://example.com/default" })

        // What the master refuses, with the field and the reason.
        for (body, code) in [
            (
                #"{"url":"https://e.com/","rules":[{"when":{"device":["phone"]},"url":"https://e.com/"}]}"#,
                "invalid_rules"
            ),
            (
                #"{"url":"https://e.com/","rules":[{"when":{"device":["mobile"]},"url":"ftp://e.com/"}]}"#,
                "unsupported_scheme"
            ),
            (#"{"url":"https://e.com/","rules":{"when":{}}}"#, "invalid_rules"),
            (#"{"url":"https://e.com/","split":[{"url":"https://a.com/","weight":50}]}"#, "invalid_split"),
            (
                #"{"url":"https://e.com/","rules":[{"when":{"device":["mobile"]},"url":"https://e.com/","x":1}]}"#,
                "invalid_rules"
            ),
        ] {
            let refused = try await TestHTTP.post("\(stack.master.url)/create", body: body)
            #expect(refused.status == 400, "\(body)")
            #expect((refused.json["error"] as? [String: Any])?["code"] as? String == code, "\(body): \(refused.body)")
        }
        await stack.stop()
    }

    @Test func tenThousandVisitorsSplitByTheWeightsAndAReturningOneKeepsItsVariant() async throws {
        let stack = try await Stack()
        let variants = ["https://a.example/", "https://b.example/", "https://c.example/"]
        let created = try await TestHTTP.post(
            "\(stack.master.url)/create",
            body: """
                {"url":"https://a.example/","alias":"abtest","split":[{"url":"\(variants[0])","weight":50},\
                {"url":"\(variants[1])","weight":30},{"url":"\(variants[2])","weight":20}]}
                """)
        try #require(created.status == 201, "\(created.body)")
        // The first visit that finds the link counts too.
        var probe: String?
        #expect(
            try await eventually {
                probe = try await stack.location("abtest")
                return probe?.hasPrefix("https://") == true
            })

        let visitors = 10_000
        let seen = try await withThrowingTaskGroup(of: [String: Int].self) { group in
            // Four at a time: the other suites run beside this one.
            for lane in 0..<4 {
                group.addTask {
                    var seen: [String: Int] = [:]
                    for _ in stride(from: lane, to: visitors, by: 4) {
                        let reply = try await TestHTTP.get("\(stack.replica.url)/abtest")
                        #expect(reply.headers["set-cookie"]?.contains("SameSite=Lax") == true)
                        seen[reply.headers["location"] ?? "status \(reply.status)", default: 0] += 1
                    }
                    return seen
                }
            }
            return try await group.reduce(into: [String: Int]()) { $0.merge($1, uniquingKeysWith: +) }
        }
        let first = seen[variants[0]] ?? 0
        for (variant, weight) in zip(variants, [50, 30, 20]) {
            let share = Double(seen[variant] ?? 0) / Double(visitors) * 100
            #expect(abs(share - Double(weight)) <= 3, "\(variant): \(share) % for a weight of \(weight)")
        }
        #expect(seen.values.reduce(0, +) == visitors, "\(seen)")

        // A returning visitor: its cookie keeps it on one variant, and sets nothing more.
        let firstVisit = try await TestHTTP.get("\(stack.replica.url)/abtest")
        let cookie = try #require(firstVisit.headers["set-cookie"]?.split(separator: ";").first.map(String.init))
        let target = try #require(firstVisit.headers["location"])
        for _ in 0..<20 {
            let again = try await TestHTTP.get(
                "\(stack.replica.url)/abtest", headers: ["Cookie": "theme=dark; \(cookie)"])
            #expect(again.headers["location"] == target && again.headers["set-cookie"] == nil)
        }
        var counted = seen
        counted[target, default: 0] += 21
        counted[try #require(probe), default: 0] += 1

        let stats = try await stack.stats("abtest", clicks: visitors + 22)
        var expected: [String: Int] = [:]
        for (index, variant) in variants.enumerated() where counted[variant] != nil {
            expected["default/\(index + 1)"] = counted[variant]
        }
        #expect(Self.values(stats, "variants") == expected, "clicks per variant, exactly")
        #expect(Self.values(stats, "rules") == ["default": visitors + 22])
        #expect(first > 0)
        await stack.stop()
    }
}
