import Foundation
import TestSupport
import Testing

/// Property: whatever a client sends to any endpoint (every route of the master's API, its web
/// app's files and the replica's redirects, with or without a code, domain or key that exists,
/// with a valid key or none or a wrong one, any
/// `Content-Type`, unknown fields), no answer is a server error and every process stays up. Requests are generated from a seed (printed; a failing seed belongs in
/// ``regressionSeeds``) out of boundary values: Int64 and UInt64 bounds, years 0 to 294277,
/// empty and 100 KB strings, NUL, CR/LF, invalid UTF-8 and characters of every Unicode plane.
@Suite struct APIPropertyTests {
    /// Seeds that once found a problem, run every time; plus one new seed per run.
    static let regressionSeeds: [UInt64] = [1, 0xDEAD_BEEF]
    static let requestsPerSeed = 300

    /// Text values at the edges of what the API reads (as raw bytes: some are not UTF-8).
    static let texts: [[UInt8]] = [
        [], Array("a".utf8), Array(String(repeating: "x", count: 100_000).utf8), [0], Array("a\u{0}b".utf8),
        Array("a\r\nX-Injected: 1".utf8), [0xFF, 0xFE, 0xC3, 0x28], [0xED, 0xA0, 0x80],
        Array("\u{80}\u{7FF}\u{800}\u{FFFF}\u{10000}\u{E0000}\u{10FFFF}".utf8), Array("api".utf8),
        Array("ok-alias_1".utf8), Array(String(repeating: "a", count: 64).utf8),
        Array(String(repeating: "b", count: 65).utf8),
        Array("https://example.com/".utf8), Array("https://Exämple.com/ü".utf8), Array("http://[::1]:99999/".utf8),
        Array("javascript:alert(1)".utf8), Array("https://e.com:0/".utf8), Array("https://\u{10FFFF}.com/".utf8),
        Array("0000-01-01T00:00:00Z".utf8), Array("0001-01-01T00:00:00Z".utf8), Array("9999-12-31T23:59:59Z".utf8),
        Array("10000-01-01T00:00:00Z".utf8), Array("294277-01-01T00:00:00Z".utf8), Array("2030-02-30T25:61:61Z".utf8),
        Array("-9223372036854775808".utf8), Array("18446744073709551615".utf8), Array("%00".utf8), Array("%FF%FE".utf8),
    ]

    /// JSON numbers at the edges.
    static let numbers = [
        "0", "-1", "1", "9223372036854775807", "-9223372036854775808", "18446744073709551615",
        "1e308", "-1e308", "1.5", "1e-400", "99999999999999999999999999",
    ]

    /// A JSON value: a string from ``texts`` (escaped as JSON would, or raw), a number, or another type.
    static func jsonValue(_ random: inout SeededGenerator) -> [UInt8] {
        switch Int.random(in: 0..<10, using: &random) {
        case 0..<5:
            let text = texts.randomElement(using: &random)!
            if Bool.random(using: &random), let string = String(validating: text, as: UTF8.self) {
                return Array((try? JSONSerialization.data(withJSONObject: [string]))?.dropFirst().dropLast() ?? [])
            }
            return [UInt8(ascii: "\"")] + text.filter { $0 != UInt8(ascii: "\"") && $0 != UInt8(ascii: "\\") } + [
                UInt8(ascii: "\"")
            ]
        case 5..<8: return Array(numbers.randomElement(using: &random)!.utf8)
        case 8: return Array(["null", "true", "[]", "{}"].randomElement(using: &random)!.utf8)
        default: return Array(String(repeating: "[", count: 5000).utf8)
        }
    }

    /// A path segment or query value: percent-encoded edge text, or raw bytes as they are.
    static func pathText(_ random: inout SeededGenerator) -> [UInt8] {
        let text = texts.randomElement(using: &random)!.prefix(Int.random(in: 0...20_000, using: &random))
        if Bool.random(using: &random) {
            return Array(text.map { String(format: "%%%02X", $0) }.joined().utf8)
        }
        return text.filter { $0 > 0x20 && $0 != 0x7F }
    }

    /// An object with some of `fields` set to edge values, sometimes one field no endpoint
    /// knows, or (one time in eight) something that is no object at all.
    static func body(_ random: inout SeededGenerator, fields: [String], required: String? = nil) -> [UInt8] {
        if Int.random(in: 0..<8, using: &random) == 0 {
            return jsonValue(&random) + texts.randomElement(using: &random)!
        }
        var members: [[UInt8]] = []
        for field in fields where Bool.random(using: &random) {
            members.append(Array("\"\(field)\":".utf8) + jsonValue(&random))
        }
        if Int.random(in: 0..<10, using: &random) == 0 {
            members.append(Array(#""private":true"#.utf8))
        }
        if let required, Int.random(in: 0..<3, using: &random) > 0 {
            members.append(Array(#""\#(required)":"https://example.com/p""#.utf8))
        }
        return [UInt8(ascii: "{")] + Array(members.joined(separator: [UInt8(ascii: ",")])) + [UInt8(ascii: "}")]
    }

    /// The fields of a domain's body.
    static let domainFields = ["name", "root_url", "not_found_url", "expired_url"]
    /// The fields of a key's body.
    static let keyFields = ["name", "role", "expires_at", "tags", "domains", "create_rate_limit", "create_burst"]

    /// A create body: an object with some of the fields, or something that is no object at all.
    static func createBody(_ random: inout SeededGenerator) -> [UInt8] {
        body(
            &random, fields: ["url", "alias", "expires_at", "max_clicks", "tags", "rules", "split", "password"],
            required: "url")
    }

    /// A bulk body: up to a few create bodies in `links`, or something else.
    static func bulkBody(_ random: inout SeededGenerator) -> [UInt8] {
        guard Int.random(in: 0..<6, using: &random) > 0 else { return body(&random, fields: ["links"]) }
        let items = (0..<Int.random(in: 0...4, using: &random)).map { _ in createBody(&random) }
        return Array(#"{"links":["#.utf8) + Array(items.joined(separator: [UInt8(ascii: ",")])) + Array("]}".utf8)
    }

    /// `?name=value&…` with some of `names`, each an edge value.
    static func query(_ random: inout SeededGenerator, _ names: [String]) -> [UInt8] {
        var parts: [[UInt8]] = []
        for name in names where Bool.random(using: &random) {
            parts.append(Array("\(name)=".utf8) + pathText(&random))
        }
        return parts.isEmpty ? [] : [UInt8(ascii: "?")] + Array(parts.joined(separator: [UInt8(ascii: "&")]))
    }

    /// A link code: one that exists (so that checks behind the lookup are reached too) or edge text.
    static func code(_ random: inout SeededGenerator, existing: String) -> [UInt8] {
        Bool.random(using: &random) ? Array(existing.utf8) : pathText(&random)
    }

    /// What exists on the master under test: a link's code, a domain, an admin key's secret
    /// and the id of a viewer key, so that checks behind each lookup are reached too.
    struct Existing {
        let code: String
        let domain: String
        let secret: String
        let keyID: String
    }

    /// One raw HTTP request to one of the master's routes or the replica's; `streams` when a
    /// good one opens a stream that never ends (its head is all there is to read).
    static func request(
        _ random: inout SeededGenerator, master: Int, replica: Int, existing: Existing
    ) -> (port: Int, bytes: [UInt8], streams: Bool) {
        var headers: [[UInt8]] = []
        switch Int.random(in: 0..<10, using: &random) {
        case 0: headers.append(Array("Authorization: Bearer ".utf8) + texts.randomElement(using: &random)!.prefix(5000))
        case 1: break
        default: headers.append(Array("Authorization: Bearer \(existing.secret)".utf8))
        }
        if Bool.random(using: &random) {
            headers.append(Array("Idempotency-Key: ".utf8) + texts.randomElement(using: &random)!.prefix(5000))
        }
        if Int.random(in: 0..<4, using: &random) == 0 {
            headers.append(Array("If-Match: ".utf8) + texts.randomElement(using: &random)!.prefix(5000))
        }
        let link = Array("/api/links/".utf8) + code(&random, existing: existing.code)
        let domain = Array("/api/domains/".utf8) + code(&random, existing: existing.domain)
        let key = Array("/api/keys/".utf8) + code(&random, existing: existing.keyID)
        let (port, method, path, body): (Int, String, [UInt8], [UInt8]) =
            switch Int.random(in: 0..<24, using: &random) {
            case 0, 1: (master, "POST", Array("/create".utf8), createBody(&random))
            case 2: (master, "GET", Array("/api/links".utf8) + query(&random, ["limit", "cursor", "tag", "q"]), [])
            case 3: (master, "GET", link, [])
            case 4: (master, "DELETE", Array("/api/links/".utf8) + pathText(&random), [])
            case 5:
                (
                    master, "PATCH", link,
                    body(&random, fields: ["url", "expires_at", "max_clicks", "tags", "rules", "split", "password"])
                )
            case 6: (master, "POST", Array("/api/links/bulk".utf8), bulkBody(&random))
            case 7:
                (
                    master, "GET",
                    link + Array("/stats".utf8) + query(&random, ["from", "to", "granularity", "exclude_bots"]), []
                )
            case 8: (master, "GET", Array("/api/stats".utf8) + query(&random, ["tag", "from", "to"]), [])
            case 9:
                (master, "GET", link + Array("/qr".utf8) + query(&random, ["format", "level", "size", "margin"]), [])
            case 10: (master, "GET", Array("/app/".utf8) + pathText(&random), [])
            case 11:
                (master, "POST", Array("/api/domains".utf8), body(&random, fields: Self.domainFields, required: "name"))
            case 12: (master, "PATCH", domain, body(&random, fields: Self.domainFields))
            case 13:
                (master, "DELETE", Array("/api/domains/".utf8) + pathText(&random) + query(&random, ["cascade"]), [])
            case 14: (master, "POST", Array("/api/keys".utf8), body(&random, fields: Self.keyFields, required: "name"))
            case 15: (master, "PATCH", key, body(&random, fields: Self.keyFields))
            case 16: (master, "DELETE", Array("/api/keys/".utf8) + pathText(&random), [])
            case 17: (master, "GET", Array("/api/audit".utf8) + query(&random, ["since", "cursor", "limit"]), [])
            case 18: (master, "GET", Array("/api/me".utf8) + query(&random, ["x"]), [])
            case 19:
                (
                    replica, "POST", Array("/".utf8) + code(&random, existing: existing.code),
                    Array("password=".utf8) + pathText(&random)
                )
            case 20:
                (
                    master, "GET",
                    link + Array("/visits".utf8) + query(&random, ["from", "to", "limit", "cursor", "domain"]), []
                )
            case 21:
                (
                    master, "GET",
                    Array("/api/visits/orphans".utf8) + query(&random, ["from", "to", "limit", "cursor"]), []
                )
            case 22: (master, "GET", link + Array("/visits/live".utf8) + query(&random, ["domain"]), [])
            default: (replica, "GET", Array("/".utf8) + pathText(&random), [])
            }
        let expected = port == replica && method == "POST" ? "application/x-www-form-urlencoded" : "application/json"
        let contentType =
            Int.random(in: 0..<8, using: &random) == 0
            ? texts.randomElement(using: &random)!.prefix(200) : Array(expected.utf8)[...]
        var bytes = Array("\(method) ".utf8) + path + Array(" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n".utf8)
        for header in headers { bytes += header + Array("\r\n".utf8) }
        bytes +=
            Array("Content-Type: ".utf8) + contentType + Array("\r\nContent-Length: \(body.count)\r\n\r\n".utf8) + body
        return (port, bytes, String(decoding: path, as: UTF8.self).contains("/visits/live"))
    }

    @Test func noRequestToAnyEndpointGetsAServerErrorOrEndsAProcess() async throws {
        var deployment = try TestDeployment(namespace: try await TestStack.makeNamespace())
        deployment.environment = ["SHORTENER_LOG_LEVEL": "warning"]
        let master = try deployment.master()
        let outbox = try deployment.outbox()
        let replica = try deployment.replica("a", redisPort: try TestStack.redisPorts[0])
        for service in [master, outbox, replica] { try await service.waitUntilHealthy() }
        let made = try await deployment.masterCommand(["keys", "create", "--name", "fuzz", "--quiet"])
        let secret = made.output.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(made.status == 0 && secret.hasPrefix("sk_"), "\(made.output)")
        let admin = ["Authorization": "Bearer \(secret)"]
        #expect(
            try await eventually(timeout: .seconds(10)) {
                try await TestHTTP.get("\(master.url)/api/me", headers: admin).status == 200
            })
        let created = try await TestHTTP.post(
            "\(master.url)/create", body: #"{"url":"https://example.com/p","password":"fuzzing1"}"#, headers: admin)
        let domain = try await TestHTTP.post(
            "\(master.url)/api/domains", body: #"{"name":"go.fuzz.test"}"#, headers: admin)
        #expect(domain.status == 201)
        let viewer = try await TestHTTP.post(
            "\(master.url)/api/keys", body: #"{"name":"fuzzed","role":"viewer"}"#, headers: admin)
        let existing = Existing(
            code: try #require(created.json["code"] as? String), domain: "go.fuzz.test", secret: secret,
            keyID: try #require(viewer.json["id"] as? String))

        let fresh = UInt64.random(in: .min ... .max)
        print("APIPropertyTests: seeds \(Self.regressionSeeds + [fresh]); add a failing one to regressionSeeds")
        for seed in Self.regressionSeeds + [fresh] {
            var random = SeededGenerator(state: seed)
            var serverErrors: [String] = []
            var statuses: [Int: Int] = [:]
            for index in 0..<Self.requestsPerSeed {
                let (port, bytes, streams) = Self.request(
                    &random, master: master.port, replica: replica.port, existing: existing)
                let socket = try RawSocket(port: port)
                socket.send(bytes)
                let answer = await socket.receive(timeout: .seconds(10), untilHeadEnds: streams).text
                socket.close()
                let status = answer.split(separator: " ", maxSplits: 2).dropFirst().first.flatMap { Int($0) } ?? 0
                statuses[status, default: 0] += 1
                // The one 5xx by design: the replica's password checks at their bound a second.
                let shedding =
                    status == 503 && answer.lowercased().contains("retry-after: 1")
                    && answer.contains("Too many passwords are being checked")
                if status >= 500, !shedding {
                    serverErrors.append(
                        "#\(index) \(String(decoding: bytes.prefix(120), as: UTF8.self)) → \(answer.prefix(200))")
                }
            }
            print("APIPropertyTests: seed \(seed) answers \(statuses.sorted { $0.key < $1.key })")
            #expect(
                serverErrors.isEmpty,
                "seed \(seed): \(serverErrors.count) server errors, e.g. \(serverErrors.prefix(3))")
            for service in [master, replica] {
                #expect(service.process.isRunning, "seed \(seed) ended \(service.process.name)")
                #expect(try await TestHTTP.get("\(service.url)/health/ready").status == 200, "seed \(seed)")
            }
        }
        for service in [replica, outbox, master] { #expect(await service.process.stop() == 0) }
    }
}
