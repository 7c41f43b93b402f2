import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import PostgresNIO
import SharedConfiguration
import SharedEvents
import TestSupport
import Testing
@testable import Master

/// `POST /api/links/bulk` on the master as `master serve` composes it, against the real
/// Postgres: each item its own outcome, in order; one bad item never fails the others.
@Suite struct BulkCreateTests {
    private func withMaster(
        createRateLimit: RateLimiter.Settings = .off,
        _ body: @Sendable (any TestClientProtocol, PostgresClient) async throws -> Void
    ) async throws {
        let namespace = try await TestStack.makeNamespace()
        let master = try MasterApplication(
            configuration: .test(namespace, createRateLimit: createRateLimit), logger: TestStack.logger)
        try await withRunningServices(master.backgroundServices) {
            try await master.http.test(.router) { http in try await body(http, master.postgres) }
        }
    }

    private func bulk(_ http: any TestClientProtocol, _ items: [String], headers: HTTPFields = [:]) async throws
        -> TestResponse
    {
        try await http.executeJSON(
            uri: "/api/links/bulk", method: .post, headers: headers,
            body: ByteBuffer(string: #"{"links":[\#(items.joined(separator: ","))]}"#))
    }

    private func results(_ reply: TestResponse) throws -> [[String: Any]] {
        let body = try JSONSerialization.jsonObject(with: Data(buffer: reply.body)) as? [String: Any]
        return try #require(body?["results"] as? [[String: Any]])
    }

    private func count(_ sql: PostgresQuery, _ client: PostgresClient) async throws -> Int {
        for try await value in try await client.query(sql, logger: TestStack.logger).decode(Int.self) { return value }
        return -1
    }

    @Test func aThousandItemsWithTenBadOnesCreateTheOtherNineHundredNinety() async throws {
        try await withMaster { http, client in
            for alias in ["taken-1", "taken-2"] {
                let reply = try await http.executeJSON(
                    uri: "/create", method: .post,
                    body: ByteBuffer(string: #"{"url":"https://example.com/\#(alias)","alias":"\#(alias)"}"#))
                #expect(reply.status == .created)
            }
            // Item → the status it must get; the bad ones are spread through the request.
            var items: [String] = []
            var expected: [Int] = []
            for index in 0..<1000 {
                switch index {
                case 3, 250: (items, expected) = (items + [#"{"url":"ftp://example.com/\#(index)"}"#], expected + [400])
                case 500, 998: (items, expected) = (items + [#"{"alias":"no-url-\#(index)"}"#], expected + [400])
                case 100, 900:
                    items.append(#"{"url":"https://example.com/\#(index)","tags":["Bad Tag"]}"#)
                    expected.append(400)
                case 600, 700:
                    items.append(#"{"url":"https://example.com/\#(index)","alias":"taken-\#(index / 600)"}"#)
                    expected.append(409)
                case 800:
                    items.append(#"{"url":"https://example.com/\#(index)","max_clicks":0}"#)
                    expected.append(400)
                case 42:
                    items.append(#"{"url":"https://example.com/first","alias":"twice"}"#)
                    expected.append(201)
                case 43:
                    items.append(#"{"url":"https://example.com/second","alias":"twice"}"#)
                    expected.append(409)
                case 44:
                    items.append(#"{"url":"https://example.com/empty","tags":[]}"#)
                    expected.append(201)
                default:
                    items.append(#"{"url":"https://example.com/bulk/\#(index)","tags":["bulk"]}"#)
                    expected.append(201)
                }
            }
            let reply = try await bulk(http, items)
            #expect(reply.status == .ok)
            let results = try results(reply)
            #expect(results.count == 1000)
            #expect(results.map { $0["status"] as? Int ?? 0 } == expected)
            #expect(expected.filter { $0 == 201 }.count == 990)
            let created = results.filter { $0["status"] as? Int == 201 }
            let codes = created.compactMap { $0["code"] as? String }
            #expect(Set(codes).count == created.count)
            #expect(results[42]["code"] as? String == "twice")
            #expect(results[5]["url"] as? String == "https://example.com/bulk/5")
            #expect(results[5]["short_url"] as? String == "http://short.test/\(results[5]["code"] as? String ?? "")")
            let refusal = try #require(results[600]["error"] as? [String: String])
            #expect(refusal["code"] == "alias_taken")
            #expect((results[3]["error"] as? [String: String])?["code"] == "unsupported_scheme")
            #expect((results[100]["error"] as? [String: String])?["code"] == "invalid_tags")

            #expect(try await count("SELECT count(*)::int FROM links", client) == 992)
            #expect(try await count("SELECT count(*)::int FROM links WHERE tags @> ARRAY['bulk']", client) == 988)
            #expect(try await count("SELECT count(*)::int FROM outbox WHERE topic = 'links'", client) == 992)
            let second = try await client.query(
                "SELECT payload FROM outbox WHERE topic = 'links' AND message_key = 'twice'", logger: TestStack.logger)
            for try await payload in second.decode(ByteBuffer.self) {
                #expect(try EventCodec.decodeLinkEvent(Array(buffer: payload)).url == "https://example.com/first")
            }
            // The list shows the batch newest first in reverse request order.
            let page = try await http.execute(uri: "/api/links?limit=2&tag=bulk", method: .get)
            let listed = try #require(
                (try JSONSerialization.jsonObject(with: Data(buffer: page.body)) as? [String: Any])?["links"]
                    as? [[String: Any]])
            #expect(listed.first?["code"] as? String == results[999]["code"] as? String)
        }
    }

    @Test func anIdempotencyKeyCoversTheWholeRequest() async throws {
        try await withMaster { http, client in
            let items = (0..<20).map { #"{"url":"https://example.com/idem/\#($0)"}"# }
            let key: HTTPFields = [.idempotencyKey: "import-7"]
            let first = try await bulk(http, items, headers: key)
            let again = try await bulk(http, items, headers: key)
            #expect(first.status == .ok && again.status == .ok)
            #expect(String(buffer: first.body) == String(buffer: again.body))
            #expect(again.headers[.idempotentReplayed] == "true")
            #expect(try await count("SELECT count(*)::int FROM links", client) == 20)
            let other = try await bulk(http, Array(items.dropLast()), headers: key)
            #expect(other.status == .unprocessableContent)
            // Concurrent retries with one key create the links once.
            let raced = (0..<20).map { #"{"url":"https://example.com/race/\#($0)"}"# }
            let answers = try await withThrowingTaskGroup(of: String.self) { group in
                for _ in 0..<4 {
                    group.addTask {
                        String(buffer: try await bulk(http, raced, headers: [.idempotencyKey: "race-1"]).body)
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(Set(answers).count == 1)
            #expect(try await count("SELECT count(*)::int FROM links", client) == 40)
        }
    }

    @Test func theRateLimitCountsItemsAndTheSizeIsBounded() async throws {
        try await withMaster(createRateLimit: .init(perSecond: 1, burst: 10)) { http, _ in
            let fifty = (0..<50).map { #"{"url":"https://example.com/rate/\#($0)"}"# }
            #expect(try await bulk(http, fifty).status == .ok)  // a full bucket lets one big batch in…
            let next = try await bulk(http, [#"{"url":"https://example.com/next"}"#])
            #expect(next.status == .tooManyRequests)  // …and then the client waits for its items
            #expect(Int(next.headers[.retryAfter] ?? "") ?? 0 >= 30)
            // A client with no token left is refused before its body is read and decoded: 4 MiB
            // of what is not even JSON answers 429, not 400.
            let large = try await http.executeJSON(
                uri: "/api/links/bulk", method: .post,
                body: ByteBuffer(string: String(repeating: "x", count: BulkCreateController.maximumBodySize)))
            #expect(large.status == .tooManyRequests)
        }
        try await withMaster { http, _ in
            #expect(try await bulk(http, []).status == .badRequest)
            let tooMany = (0...1000).map { #"{"url":"https://example.com/\#($0)"}"# }
            #expect(try await bulk(http, tooMany).status == .badRequest)
            // An item of the wrong shape fails alone.
            let mixed = try await bulk(http, [#"{"url":5}"#, #"{"url":"https://example.com/shape"}"#, "[]"])
            #expect(mixed.status == .ok)
            #expect(try results(mixed).map { $0["status"] as? Int } == [400, 201, 400])
            #expect((try results(mixed)[0]["error"] as? [String: String])?["code"] == "invalid_json")
            let notJSON = try await http.executeJSON(
                uri: "/api/links/bulk", method: .post, body: ByteBuffer(string: #"{"links":{}}"#))
            #expect(notJSON.status == .badRequest)
            // Unknown fields: the request's fail it, an item's fail that item, each named.
            let unknownTop = try await http.executeJSON(
                uri: "/api/links/bulk", method: .post,
                body: ByteBuffer(string: #"{"links":[{"url":"https://example.com/u"}],"private":true}"#))
            #expect(unknownTop.status == .badRequest)
            #expect(String(buffer: unknownTop.body).contains(#""field":"private""#))
            let unknownItem = try await bulk(http, [#"{"url":"https://example.com/v","targets":[]}"#])
            #expect((try results(unknownItem)[0]["error"] as? [String: String])?["code"] == "unknown_field")
            #expect((try results(unknownItem)[0]["error"] as? [String: String])?["field"] == "targets")
            let plainText = try await http.executeJSON(
                uri: "/api/links/bulk", method: .post, headers: [.contentType: "text/plain"],
                body: ByteBuffer(string: #"{"links":[{"url":"https://example.com/w"}]}"#))
            #expect(plainText.status == .unsupportedMediaType)
        }
    }
}
