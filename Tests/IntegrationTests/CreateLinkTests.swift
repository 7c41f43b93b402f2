import Foundation
import Hummingbird
import HummingbirdTesting
import PostgresNIO
import SharedEvents
import TestSupport
import Testing
@testable import Master

/// `POST /create` against the real Postgres: the link row and its outbox row, or nothing.
@Suite struct CreateLinkTests {
    /// Links, their events, and their audit events.
    private func counts(_ client: PostgresClient) async throws -> (links: Int, outbox: Int, audit: Int) {
        let rows = try await client.query(
            """
            SELECT (SELECT count(*) FROM links)::int, (SELECT count(*) FROM outbox WHERE topic = 'links')::int,
                (SELECT count(*) FROM outbox WHERE topic = 'audit')::int
            """, logger: TestStack.logger)
        for try await row in rows.decode((Int, Int, Int).self) { return row }
        return (0, 0, 0)
    }

    /// The fields Postgres stores and searches beside the target: reuse finds a live link by its
    /// url on its domain, titles and notes are found by `q`, campaigns and redirect options
    /// travel in the link's event.
    @Test func reuseTitlesNotesCampaignsAndRedirectOptionsInPostgres() async throws {
        let namespace = try await TestStack.makeNamespace()
        let master = try MasterApplication(configuration: .test(namespace), logger: TestStack.logger)
        try await withRunningServices(master.backgroundServices) {
            try await master.http.test(.router) { http in
                func create(_ body: String) async throws -> (status: HTTPResponse.Status, code: String?) {
                    let reply = try await http.executeJSON(
                        uri: "/create", method: .post, body: ByteBuffer(string: body))
                    let json = try JSONSerialization.jsonObject(with: Data(buffer: reply.body)) as? [String: Any]
                    return (reply.status, json?["code"] as? String)
                }
                let first = try await create(
                    #"{"url":"https://example.com/r","title":"Quarterly numbers","notes":"board deck","utm":{"source":"mail"},"redirect_type":308,"crawlable":true}"#
                )
                #expect(first.status == .created)
                let again = try await create(#"{"url":"https://example.com/r","reuse":true}"#)
                #expect(again.status == .ok && again.code == first.code)
                let limited = try await create(#"{"url":"https://example.com/e","max_clicks":1}"#)
                #expect(try await create(#"{"url":"https://example.com/e","reuse":true}"#).code == limited.code)

                for (query, found) in [("quarterly", first.code), ("board%20d", first.code), ("nothing-like", nil)] {
                    let page = try await http.execute(uri: "/api/links?q=\(query)", method: .get)
                    let json = try JSONSerialization.jsonObject(with: Data(buffer: page.body)) as? [String: Any]
                    let codes = (json?["links"] as? [[String: Any]])?.compactMap { $0["code"] as? String }
                    #expect(codes == found.map { [$0] } ?? [], "\(query)")
                }
                let rows = try await master.postgres.query(
                    "SELECT payload FROM outbox WHERE topic = 'links' AND message_key = \(first.code ?? "")",
                    logger: TestStack.logger)
                for try await payload in rows.decode(ByteBuffer.self) {
                    let event = try EventCodec.decodeLinkEvent(Array(buffer: payload))
                    #expect(event.utm == "utm_source=mail" && event.redirectType == 308 && event.crawlable == true)
                }
            }
        }
    }

    @Test func createWritesTheLinkAndItsOutboxEventTogetherOrNothing() async throws {
        let namespace = try await TestStack.makeNamespace()
        let master = try MasterApplication(configuration: .test(namespace), logger: TestStack.logger)
        let client = master.postgres
        try await withRunningServices(master.backgroundServices) {
            try await master.http.test(.router) { http in
                let created = try await http.executeJSON(
                    uri: "/create", method: .post,
                    body: ByteBuffer(string: #"{"url":"https://example.com/a"}"#))
                #expect(created.status == .created)
                let body = try JSONSerialization.jsonObject(with: Data(buffer: created.body)) as? [String: String]
                let code = try #require(body?["code"])
                #expect(body?["short_url"] == "http://short.test/\(code)")
                #expect(String(buffer: created.body).contains(#""url":"https://example.com/a""#))

                let outbox = try await client.query(
                    "SELECT topic, message_key, payload FROM outbox WHERE topic <> 'audit'", logger: TestStack.logger)
                var events: [LinkEvent] = []
                for try await (topic, key, payload) in outbox.decode((String, String, ByteBuffer).self) {
                    #expect(topic == "links" && key == code)
                    events.append(try EventCodec.decodeLinkEvent(Array(buffer: payload)))
                }
                #expect(events.count == 1)
                #expect(events.first?.type == .created && events.first?.code == code)
                #expect(events.first?.url == "https://example.com/a")

                // Bad input writes nothing at all.
                for body in [#"{"url":"ftp://x"}"#, "not json", #"{"url":"https://e.com","alias":"api"}"#] {
                    let rejected = try await http.executeJSON(
                        uri: "/create", method: .post, body: ByteBuffer(string: body))
                    #expect(rejected.status == .badRequest)
                    #expect(String(buffer: rejected.body).contains(#""error""#))
                }
                // A field the server does not know is refused by name, never ignored.
                let unknown = try await http.executeJSON(
                    uri: "/create", method: .post,
                    body: ByteBuffer(string: #"{"url":"https://e.com/p","pasword":"secret"}"#))
                #expect(unknown.status == .badRequest)
                #expect(String(buffer: unknown.body).contains(#""code":"unknown_field""#))
                #expect(String(buffer: unknown.body).contains(#""field":"pasword""#))
                // A body any web page could send without asking first (no preflight) is refused,
                // as is one without a type; a charset parameter is fine.
                for contentType in ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data", ""] {
                    let crossSite = try await http.executeJSON(
                        uri: "/create", method: .post, headers: [.contentType: contentType],
                        body: ByteBuffer(string: #"{"url":"https://e.com/csrf"}"#))
                    #expect(crossSite.status == .unsupportedMediaType, "\(contentType)")
                    #expect(String(buffer: crossSite.body).contains("unsupported_media_type"))
                }
                let untyped = try await http.execute(
                    uri: "/create", method: .post, body: ByteBuffer(string: #"{"url":"https://e.com/csrf"}"#))
                #expect(untyped.status == .unsupportedMediaType)
                let charset = try await http.executeJSON(
                    uri: "/create", method: .post, headers: [.contentType: "Application/JSON; charset=utf-8"],
                    body: ByteBuffer(string: #"{"url":"https://e.com/charset"}"#))
                #expect(charset.status == .created)
                let tooLarge = String(repeating: "x", count: 70_000)
                let large = try await http.executeJSON(
                    uri: "/create", method: .post,
                    body: ByteBuffer(string: #"{"url":"https://e.com/\#(tooLarge)"}"#))
                #expect(large.status == .contentTooLarge)

                // A custom alias, then the same alias again: 409, and still one row each.
                let alias = try await http.executeJSON(
                    uri: "/create", method: .post,
                    body: ByteBuffer(string: #"{"url":"https://e.com/b","alias":"my-alias"}"#))
                #expect(alias.status == .created)
                let taken = try await http.executeJSON(
                    uri: "/create", method: .post,
                    body: ByteBuffer(string: #"{"url":"https://e.com/c","alias":"my-alias"}"#))
                #expect(taken.status == .conflict)
                #expect(String(buffer: taken.body).contains("alias_taken"))
                let total = try await counts(client)
                #expect(total.links == 3 && total.outbox == 3 && total.audit == 3)
            }
        }
    }
}
