import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import SharedResilience
import TestSupport
import Testing
@testable import Master

/// What keys may do beyond the permissions table (whose matrix runs on the real executables in
/// `AccessMatrixEndToEndTests`): scoped keys, the keys API, per-key limits, revocation across
/// masters and last use, on the master as `master serve` composes it against the real Postgres.
@Suite struct AccessMatrixTests {
    @Test func aCreatorAndATagLimitedKeySeeAndTouchOnlyTheirLinks() async throws {
        try await KeyedClient.withAdmin { client, admin in
            func call(_ method: HTTPRequest.Method, _ uri: String, _ secret: String, _ body: String = "")
                async throws -> KeyedClient.Answer
            { try await client.call(method, uri, secret, body) }
            func create(_ secret: String, _ body: String) async throws -> String {
                let made = try await call(.post, "/create", secret, body)
                #expect(made.status == .created, "\(made.text)")
                return try #require(made.json["code"] as? String)
            }
            func codes(_ secret: String, _ uri: String = "/api/links") async throws -> Set<String> {
                let listed = try await call(.get, uri, secret)
                #expect(listed.status == .ok)
                return Set((listed.json["links"] as? [[String: Any]] ?? []).compactMap { $0["code"] as? String })
            }
            let teamA = try await create(admin, #"{"url":"https://example.com/a","tags":["team-a"]}"#)
            let teamB = try await create(admin, #"{"url":"https://example.com/b","tags":["team-b"]}"#)

            // A creator: creates, and sees only what it created, recorded as its own.
            let creatorKey = try await call(.post, "/api/keys", admin, #"{"name":"intake","role":"creator"}"#)
            let creatorID = try #require(creatorKey.json["id"] as? String)
            let creator = try #require(creatorKey.json["secret"] as? String)
            let own = try await create(creator, #"{"url":"https://example.com/own"}"#)
            #expect(try await codes(creator) == [own])
            let mine = try await call(.get, "/api/links/\(own)", creator)
            #expect(mine.status == .ok)
            #expect(mine.json["created_by"] as? [String: String] == ["id": creatorID, "name": "intake"])
            #expect(try await call(.get, "/api/links/\(own)/stats", creator).status == .ok)
            for uri in ["/api/links/\(teamA)", "/api/links/\(teamA)/stats", "/api/links/\(teamA)/qr"] {
                let refused = try await call(.get, uri, creator)
                #expect(refused.status == .forbidden, "\(uri)")
                #expect(!refused.text.contains("example.com/a"), "never the link's data")
            }
            #expect(try await call(.get, "/api/links/nosuch1", creator).status == .notFound)
            #expect(try await call(.patch, "/api/links/\(own)", creator, #"{"title":"t"}"#).status == .forbidden)
            let adminSees = try await call(.get, "/api/links/\(teamA)", admin)
            #expect(adminSees.json["created_by"] as? [String: String] != nil)
            #expect(try await codes(admin).isSuperset(of: [teamA, teamB, own]))

            // An editor limited to one tag: sees and edits only links carrying it, and what
            // it creates (alone or in bulk) gets it.
            let tagged = try await call(
                .post, "/api/keys", admin, #"{"name":"team a","role":"editor","tags":["team-a"]}"#)
            #expect(tagged.json["tags"] as? [String] == ["team-a"])
            let editor = try #require(tagged.json["secret"] as? String)
            #expect(try await codes(editor) == [teamA])
            #expect(try await call(.get, "/api/links/\(teamB)", editor).status == .forbidden)
            #expect(try await call(.delete, "/api/links/\(teamB)", editor).status == .forbidden)
            #expect(try await call(.patch, "/api/links/\(teamB)", editor, #"{"title":"x"}"#).status == .forbidden)
            #expect(try await call(.patch, "/api/links/\(teamA)", editor, #"{"title":"ours"}"#).status == .ok)
            let leaving = try await call(.patch, "/api/links/\(teamA)", editor, #"{"tags":["elsewhere"]}"#)
            #expect(leaving.status == .forbidden && leaving.text.contains("team-a"), "\(leaving.text)")
            let made = try await create(editor, #"{"url":"https://example.com/new","tags":["extra"]}"#)
            #expect(
                Set(try await call(.get, "/api/links/\(made)", admin).json["tags"] as? [String] ?? [])
                    == ["extra", "team-a"])
            let bulk = try await call(
                .post, "/api/links/bulk", editor, #"{"links":[{"url":"https://example.com/bulk"}]}"#)
            #expect(bulk.status == .ok)
            let bulkCode = try #require(
                ((bulk.json["results"] as? [[String: Any]])?.first)?["code"] as? String, "\(bulk.text)")
            #expect(try await codes(editor) == [teamA, made, bulkCode])
            let export = try await call(.get, "/api/links.csv", editor)
            #expect(export.status == .ok && export.text.contains(teamA) && !export.text.contains(teamB))
            #expect(try await codes(editor, "/api/links?tag=team-b").isEmpty)

            // A key limited to a domain sees only that domain and creates there.
            #expect(try await call(.post, "/api/domains", admin, #"{"name":"go.scoped.test"}"#).status == .created)
            let domainKey = try await call(
                .post, "/api/keys", admin, #"{"name":"go","role":"editor","domains":["go.scoped.test"]}"#)
            #expect(domainKey.json["domains"] as? [String] == ["go.scoped.test"])
            let onDomain = try #require(domainKey.json["secret"] as? String)
            #expect(
                try await call(.post, "/create", onDomain, #"{"url":"https://example.com/d"}"#).status
                    == .forbidden,
                "the default domain is not one of its domains")
            let there = try await call(
                .post, "/create", onDomain, #"{"url":"https://example.com/d","domain":"go.scoped.test"}"#)
            #expect(there.json["domain"] as? String == "go.scoped.test", "\(there.text)")
            #expect(try await codes(onDomain).count == 1)
            let domains = try await call(.get, "/api/domains", onDomain)
            #expect(
                (domains.json["domains"] as? [[String: Any]])?.compactMap { $0["name"] as? String }
                    == ["go.scoped.test"], "\(domains.text)")
            let defaultHost = try #require(adminSees.json["domain"] as? String)
            let elsewhere = try await call(
                .post, "/create", onDomain, #"{"url":"https://example.com/d","domain":"\#(defaultHost)"}"#)
            #expect(elsewhere.status == .forbidden, "\(elsewhere.text)")
        }
    }

    @Test func anAdminManagesKeysOverTheAPIAndAChangeIsSeenAtOnce() async throws {
        try await KeyedClient.withAdmin { client, admin in
            func call(_ method: HTTPRequest.Method, _ uri: String, _ secret: String, _ body: String = "")
                async throws -> KeyedClient.Answer
            { try await client.call(method, uri, secret, body) }
            let made = try await call(.post, "/api/keys", admin, #"{"name":" reader ","role":"viewer"}"#)
            #expect(made.status == .created)
            #expect(made.json["name"] as? String == "reader" && made.json["role"] as? String == "viewer")
            let id = try #require(made.json["id"] as? String)
            let secret = try #require(made.json["secret"] as? String)

            #expect(try await call(.get, "/api/links", secret).status == .ok)
            let edit = try await call(.post, "/create", secret, #"{"url":"https://example.com/v"}"#)
            #expect(edit.status == .forbidden)
            #expect(try await call(.get, "/api/keys", secret).status == .forbidden, "a viewer never sees keys")

            let listed = try await call(.get, "/api/keys", admin)
            let keys = try #require(listed.json["keys"] as? [[String: Any]])
            #expect(keys.count == 2 && keys.allSatisfy { $0["secret"] == nil }, "no secret is ever listed")

            let promoted = try await call(.patch, "/api/keys/\(id)", admin, #"{"role":"editor"}"#)
            #expect(promoted.status == .ok && promoted.json["role"] as? String == "editor")
            #expect(
                try await call(.post, "/create", secret, #"{"url":"https://example.com/e"}"#).status == .created,
                "the new role holds at once")

            for (body, code) in [
                (#"{"name":"x","role":"owner"}"#, "invalid_role"), (#"{"name":"x","secret":"s"}"#, "unknown_field"),
                (#"{"name":""}"#, "invalid_name"),
                (#"{"name":"x","expires_at":"2001-01-01T00:00:00Z"}"#, "invalid_expires_at"),
                (#"{"role":"viewer"}"#, "missing_name"),
            ] {
                let refused = try await call(.post, "/api/keys", admin, body)
                #expect(refused.status == .badRequest, "\(body)")
                #expect((refused.json["error"] as? [String: Any])?["code"] as? String == code, "\(body)")
            }
            #expect(try await call(.patch, "/api/keys/\(id)", admin, "{}").status == .badRequest)
            #expect(try await call(.delete, "/api/keys/key_nope", admin).status == .notFound)

            #expect(try await call(.delete, "/api/keys/\(id)", admin).status == .noContent)
            #expect(try await call(.get, "/api/links", secret).status == .unauthorized, "revoked at once")
            #expect(try await call(.delete, "/api/keys/\(id)", admin).status == .notFound)
        }
    }

    @Test func aKeyWithItsOwnRateLimitIsHeldToItAndNullGivesItTheDefaultAgain() async throws {
        try await KeyedClient.withAdmin(createRateLimit: .init(perSecond: 0.01, burst: 2)) { client, admin in
            func key(_ body: String) async throws -> (id: String, secret: String) {
                let made = try await client.call(.post, "/api/keys", admin, body)
                #expect(made.status == .created, "\(made.text)")
                return (try #require(made.json["id"] as? String), try #require(made.json["secret"] as? String))
            }
            func creates(_ secret: String, _ count: Int) async throws -> [Int] {
                var statuses: [Int] = []
                for index in 0..<count {
                    let body = #"{"url":"https://example.com/limited/\#(index)"}"#
                    statuses.append(try await client.call(.post, "/create", secret, body).status.code)
                }
                return statuses
            }
            let plain = try await key(#"{"name":"plain","role":"editor"}"#)
            #expect(try await creates(plain.secret, 3) == [201, 201, 429], "the master's default: a burst of 2")
            let importer = try await key(#"{"name":"importer","role":"editor","create_rate_limit":0}"#)
            #expect(try await creates(importer.secret, 10).allSatisfy { $0 == 201 }, "0: unlimited")
            let form = try await key(#"{"name":"form","role":"creator","create_rate_limit":0.01,"create_burst":4}"#)
            #expect(try await creates(form.secret, 5) == [201, 201, 201, 201, 429])
            let listed = try await client.call(.get, "/api/keys", admin)
            let forms = (listed.json["keys"] as? [[String: Any]] ?? []).filter { $0["name"] as? String == "form" }
            #expect(forms.first?["create_burst"] as? Int == 4)

            let reset = try await client.call(.patch, "/api/keys/\(importer.id)", admin, #"{"create_rate_limit":null}"#)
            #expect(reset.status == .ok && reset.json["create_rate_limit"] is NSNull, "\(reset.text)")
            #expect(try await creates(importer.secret, 3) == [201, 201, 429], "back to the default")

            for body in [
                #"{"name":"x","create_rate_limit":-1}"#, #"{"name":"x","create_rate_limit":"fast"}"#,
                #"{"name":"x","create_burst":0}"#, #"{"name":"x","create_burst":1.5}"#,
                #"{"name":"x","create_rate_limit":1e9}"#,
            ] {
                #expect(try await client.call(.post, "/api/keys", admin, body).status == .badRequest, "\(body)")
            }
        }
    }

    @Test func aKeyRevokedOnOneMasterStopsWorkingOnAnotherWithinASecond() async throws {
        let namespace = try await TestStack.makeNamespace()
        let first = try MasterApplication(configuration: .test(namespace), logger: TestStack.logger)
        let second = try MasterApplication(configuration: .test(namespace), logger: TestStack.logger)
        try await withRunningServices(first.backgroundServices + second.backgroundServices) {
            let store = APIKeyStore(
                client: first.postgres, breaker: TestStack.postgresBreaker(), logger: TestStack.logger)
            let admin = try await store.create(name: "admin", role: .admin).secret
            let doomed = try await store.create(name: "doomed", role: .viewer)
            @Sendable func status(
                _ http: any TestClientProtocol, _ method: HTTPRequest.Method, _ uri: String, _ secret: String
            )
                async throws -> HTTPResponse.Status
            {
                try await http.execute(uri: uri, method: method, headers: [.authorization: "Bearer \(secret)"]).status
            }
            try await second.http.test(.router) { other in
                // The second master has the key in its cache.
                #expect(try await eventually { try await status(other, .get, "/api/links", doomed.secret) == .ok })
                let revocation = try await first.http.test(.router) { http in
                    try await status(http, .delete, "/api/keys/\(doomed.id)", admin)
                }
                #expect(revocation == .noContent)
                let revoked = ContinuousClock.now
                #expect(
                    try await eventually(timeout: .seconds(1)) {
                        try await status(other, .get, "/api/links", doomed.secret) == .unauthorized
                    }, "the second master refuses the key within a second, not at its 5 s refresh")
                print("AccessMatrixTests: revocation seen by the second master after \(ContinuousClock.now - revoked)")
            }
        }
    }

    @Test func aThousandRequestsWriteAKeysLastUseOnce() async throws {
        let namespace = try await TestStack.makeNamespace()
        let master = try MasterApplication(configuration: .test(namespace), logger: TestStack.logger)
        try await withRunningServices(master.backgroundServices) {
            let store = APIKeyStore(
                client: master.postgres, breaker: TestStack.postgresBreaker(), logger: TestStack.logger)
            let key = try await store.create(name: "busy", role: .viewer)
            let idle = try await store.create(name: "idle", role: .viewer)
            try await master.http.test(.router) { http in
                for _ in 0..<1_000 {
                    let response = try await http.execute(
                        uri: "/api/domains", method: .get, headers: [.authorization: "Bearer \(key.secret)"])
                    #expect(response.status == .ok)
                }
            }
            #expect(try await master.keyUsage.flush() == 1, "one write for the thousand uses")
            #expect(try await master.keyUsage.flush() == 0, "nothing new, nothing written")
            let keys = try await store.list()
            let busy = try #require(keys.first { $0.id == key.id })
            #expect(busy.lastUsedAt.map { abs($0.timeIntervalSinceNow) < 60 } == true)
            #expect(keys.first { $0.id == idle.id }?.lastUsedAt == nil)
        }
    }
}

/// Sends JSON requests with an API key to a master under test.
struct KeyedClient {
    let http: any TestClientProtocol

    /// Runs `body` against a master as `master serve` composes it, with an admin key's secret.
    static func withAdmin(
        createRateLimit: RateLimiter.Settings = .off, _ body: @Sendable (KeyedClient, String) async throws -> Void
    ) async throws {
        let namespace = try await TestStack.makeNamespace()
        let master = try MasterApplication(
            configuration: .test(namespace, createRateLimit: createRateLimit), logger: TestStack.logger)
        try await withRunningServices(master.backgroundServices) {
            let store = APIKeyStore(
                client: master.postgres, breaker: TestStack.postgresBreaker(), logger: TestStack.logger)
            let admin = try await store.create(name: "admin", role: .admin).secret
            try await master.http.test(.router) { http in try await body(KeyedClient(http: http), admin) }
        }
    }

    /// An answer: its status, its body as a JSON object (empty when it is none) and as text,
    /// and its `X-Request-ID`.
    struct Answer {
        let status: HTTPResponse.Status
        let json: [String: Any]
        let text: String
        let requestID: String?
    }

    func call(_ method: HTTPRequest.Method, _ uri: String, _ secret: String, _ body: String = "") async throws
        -> Answer
    {
        let response = try await http.execute(
            uri: uri, method: method, headers: [.authorization: "Bearer \(secret)", .contentType: "application/json"],
            body: ByteBuffer(string: body))
        let json = (try? JSONSerialization.jsonObject(with: Data(buffer: response.body))) as? [String: Any]
        return Answer(
            status: response.status, json: json ?? [:], text: String(buffer: response.body),
            requestID: response.headers[HTTPField.Name("X-Request-ID")!])
    }
}
