import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import PostgresNIO
import SharedEvents
import TestSupport
import Testing
@testable import Master

/// `PATCH /api/links/<code>` and tags on the master as `master serve` composes it, against the
/// real Postgres: each edit is one transaction with its `link.updated` event, ordered with
/// deletes by the link's row lock.
@Suite struct LinkEditTests {
    private func withMaster(_ body: @Sendable (any TestClientProtocol, PostgresClient) async throws -> Void)
        async throws
    {
        let namespace = try await TestStack.makeNamespace()
        let master = try MasterApplication(configuration: .test(namespace), logger: TestStack.logger)
        try await withRunningServices(master.backgroundServices) {
            try await master.http.test(.router) { http in try await body(http, master.postgres) }
        }
    }

    private func create(_ http: any TestClientProtocol, _ json: String) async throws -> String {
        let reply = try await http.executeJSON(uri: "/create", method: .post, body: ByteBuffer(string: json))
        try #require(reply.status == .created, "\(String(buffer: reply.body))")
        let body = try JSONSerialization.jsonObject(with: Data(buffer: reply.body)) as? [String: Any]
        return try #require(body?["code"] as? String)
    }

    private func json(_ reply: TestResponse) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(buffer: reply.body)) as? [String: Any])
    }

    /// The code's events in outbox order.
    private func events(of code: String, in client: PostgresClient) async throws -> [LinkEvent] {
        let rows = try await client.query(
            "SELECT payload FROM outbox WHERE topic = 'links' AND message_key = \(code) ORDER BY id",
            logger: TestStack.logger)
        var events: [LinkEvent] = []
        for try await payload in rows.decode(ByteBuffer.self) {
            events.append(try EventCodec.decodeLinkEvent(Array(buffer: payload)))
        }
        return events
    }

    @Test func anEditChangesTheLinkAndQueuesItsEventWithTheNextRevision() async throws {
        try await withMaster { http, client in
            let code = try await create(
                http, #"{"url":"https://example.com/old","tags":["docs"],"max_clicks":5}"#)
            let edited = try await http.executeJSON(
                uri: "/api/links/\(code)", method: .patch,
                body: ByteBuffer(
                    string: #"{"url":"https://example.com/new","tags":["docs","q4"],"max_clicks":null}"#))
            #expect(edited.status == .ok, "\(String(buffer: edited.body))")
            #expect(edited.headers[.eTag] == "\"2\"")
            let body = try json(edited)
            #expect(body["url"] as? String == "https://example.com/new")
            #expect(body["tags"] as? [String] == ["docs", "q4"])
            #expect(body["max_clicks"] is NSNull)
            #expect(body["revision"] as? Int == 2)

            let read = try await http.execute(uri: "/api/links/\(code)", method: .get)
            #expect(read.headers[.eTag] == "\"2\"")
            #expect(try json(read)["url"] as? String == "https://example.com/new")

            let events = try await events(of: code, in: client)
            #expect(events.map(\.type) == [.created, .updated])
            #expect(events.map(\.revision) == [1, 2])
            #expect(events.first?.tags == ["docs"])
            let update = try #require(events.last)
            #expect(update.url == "https://example.com/new" && update.tags == ["docs", "q4"])
            #expect(update.maxClicks == nil && update.exhausted == nil)
        }
    }

    @Test func aMoveAnnouncesTheOldAddressDeletedAndTheNewOneWithTheLinksState() async throws {
        try await withMaster { http, client in
            let added = try await http.executeJSON(
                uri: "/api/domains", method: .post, body: ByteBuffer(string: #"{"name":"go.test"}"#))
            #expect(added.status == .created)
            let code = try await create(http, #"{"url":"https://example.com/a","tags":["docs"]}"#)
            let moved = try await http.executeJSON(
                uri: "/api/links/\(code)", method: .patch, body: ByteBuffer(string: #"{"domain":"go.test"}"#))
            #expect(moved.status == .ok, "\(String(buffer: moved.body))")
            let old = try await events(of: code, in: client)
            #expect(old.map(\.type) == [.created, .deleted] && old.map(\.revision) == [1, 2])
            let new = try await events(of: "go.test/\(code)", in: client)
            #expect(new.map(\.type) == [.updated] && new.first?.revision == 2)
            #expect(new.first?.url == "https://example.com/a" && new.first?.tags == ["docs"])
            #expect(new.first?.domain == "go.test")
        }
    }

    @Test func editsAreCheckedLikeCreatesAndRefusedOnDeletedOrUnknownLinks() async throws {
        try await withMaster { http, client in
            let code = try await create(http, #"{"url":"https://example.com/a"}"#)
            let refused: [(String, HTTPResponse.Status, String)] = [
                (#"{"url":"ftp://x"}"#, .badRequest, "unsupported_scheme"),
                (#"{"url":null}"#, .badRequest, "missing_url"),
                (#"{"expires_at":"2001-01-01T00:00:00Z"}"#, .badRequest, "invalid_expires_at"),
                (#"{"max_clicks":0}"#, .badRequest, "invalid_max_clicks"),
                (#"{"tags":["Not OK"]}"#, .badRequest, "invalid_tags"),
                (#"{"tags":["a","a"]}"#, .badRequest, "invalid_tags"),
                (#"{"tags":null}"#, .badRequest, "invalid_tags"),
                (#"{"urll":"https://e.com"}"#, .badRequest, "unknown_field"),
                (#"{}"#, .badRequest, "empty_edit"),
                ("not json", .badRequest, "invalid_json"),
            ]
            for (body, status, error) in refused {
                let reply = try await http.executeJSON(
                    uri: "/api/links/\(code)", method: .patch, body: ByteBuffer(string: body))
                #expect(reply.status == status, "\(body)")
                #expect(String(buffer: reply.body).contains(error), "\(body): \(String(buffer: reply.body))")
            }
            #expect(try await events(of: code, in: client).count == 1, "a refused edit writes nothing")

            let unknown = try await http.executeJSON(
                uri: "/api/links/nosuchcode", method: .patch, body: ByteBuffer(string: #"{"tags":[]}"#))
            #expect(unknown.status == .notFound)
            #expect(try await http.execute(uri: "/api/links/\(code)", method: .delete).status == .noContent)
            let gone = try await http.executeJSON(
                uri: "/api/links/\(code)", method: .patch, body: ByteBuffer(string: #"{"tags":[]}"#))
            #expect(gone.status == .gone)
        }
    }

    @Test func ifMatchLetsOneOfTwoConcurrentEditsWin() async throws {
        try await withMaster { http, client in
            for round in 0..<10 {
                let code = try await create(http, #"{"url":"https://example.com/race/\#(round)"}"#)
                let statuses = try await withThrowingTaskGroup(of: HTTPResponse.Status.self) { group in
                    for editor in 0..<2 {
                        group.addTask {
                            try await http.executeJSON(
                                uri: "/api/links/\(code)", method: .patch, headers: [.ifMatch: "\"1\""],
                                body: ByteBuffer(string: #"{"url":"https://example.com/editor/\#(editor)"}"#)
                            ).status
                        }
                    }
                    return try await group.reduce(into: []) { $0.append($1) }
                }
                #expect(statuses.sorted { $0.code < $1.code } == [.ok, .preconditionFailed], "round \(round)")
                #expect(try await events(of: code, in: client).map(\.revision) == [1, 2])
            }
            let code = try await create(http, #"{"url":"https://example.com/stale"}"#)
            let stale = try await http.executeJSON(
                uri: "/api/links/\(code)", method: .patch, headers: [.ifMatch: "\"7\""],
                body: ByteBuffer(string: #"{"tags":["x"]}"#))
            #expect(stale.status == .preconditionFailed)
            #expect(stale.headers[.eTag] == "\"1\"")
            let malformed = try await http.executeJSON(
                uri: "/api/links/\(code)", method: .patch, headers: [.ifMatch: "yesterday"],
                body: ByteBuffer(string: #"{"tags":["x"]}"#))
            #expect(malformed.status == .badRequest)
        }
    }

    /// An edit racing a delete: whatever the order, the link ends deleted, and the outbox holds
    /// its events in revision order with the deletion last.
    @Test func anEditRacingADeleteEndsDeleted() async throws {
        try await withMaster { http, client in
            for round in 0..<20 {
                let code = try await create(http, #"{"url":"https://example.com/del/\#(round)"}"#)
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask {
                        _ = try await http.executeJSON(
                            uri: "/api/links/\(code)", method: .patch,
                            body: ByteBuffer(string: #"{"url":"https://example.com/edited"}"#))
                    }
                    group.addTask { _ = try await http.execute(uri: "/api/links/\(code)", method: .delete) }
                    try await group.waitForAll()
                }
                let read = try await http.execute(uri: "/api/links/\(code)", method: .get)
                #expect(try json(read)["status"] as? String == "deleted")
                let events = try await events(of: code, in: client)
                #expect(events.last?.type == .deleted, "round \(round): \(events.map(\.type))")
                #expect(events.map(\.revision) == Array(1...Int64(events.count)), "round \(round)")
            }
        }
    }

    @Test func theListFiltersByTagAcrossPages() async throws {
        try await withMaster { http, _ in
            var tagged: [String] = []
            for index in 0..<7 {
                let tags = index % 2 == 0 ? #"["even","all"]"# : #"["all"]"#
                let code = try await create(http, #"{"url":"https://example.com/t/\#(index)","tags":\#(tags)}"#)
                if index % 2 == 0 { tagged.append(code) }
            }
            var seen: [String] = []
            var cursor: String?
            repeat {
                let page = try await http.execute(
                    uri: "/api/links?tag=even&limit=2" + (cursor.map { "&cursor=\($0)" } ?? ""), method: .get)
                #expect(page.status == .ok)
                let body = try json(page)
                let links = try #require(body["links"] as? [[String: Any]])
                for link in links {
                    #expect((link["tags"] as? [String])?.contains("even") == true)
                    seen.append(try #require(link["code"] as? String))
                }
                cursor = body["next_cursor"] as? String
            } while cursor != nil
            #expect(Set(seen) == Set(tagged) && seen.count == tagged.count)
            let none = try await http.execute(uri: "/api/links?tag=nothing-here", method: .get)
            #expect(try (json(none)["links"] as? [Any])?.isEmpty == true)
            let bad = try await http.execute(uri: "/api/links?tag=Bad%20Tag", method: .get)
            #expect(bad.status == .badRequest)
        }
    }
}
