import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import SharedService
import Testing
import SharedLinks
@testable import Master
@testable import SharedResilience

/// The link routes as the master composes them (``LinkRoutes``), driven through the router over
/// an in-memory repository: the HTTP layer's rules without a database.
@Suite struct LinkRoutesTests {
    private static let logger = Logger(label: "link-routes-tests")

    /// The routes over `repository`, with the key check reading `keys`.
    private func withRoutes(
        over repository: any LinkRepository = InMemoryLinkRepository(),
        keys: APIKeyStore.ActiveKeys = .init(),
        _ body: @Sendable (any TestClientProtocol) async throws -> Void
    ) async throws {
        let router = Router(context: AppRequestContext.self)
        let admission = CreateAdmission(
            keys: APIKeyGuard(logger: Self.logger, loadKeys: { keys }), limiter: RateLimiter(settings: .off),
            trustedProxies: try TrustedProxies(parsing: ""))
        let domains = ShortDomains(publicBaseURL: "http://s.test", repository: InMemoryDomainRepository())
        LinkRoutes(repository: repository, creator: repository, admission: admission, domains: domains)
            .add(to: router)
        try await Application(router: router).test(.router) { client in try await body(client) }
    }

    private static func json(_ response: TestResponse) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(buffer: response.body)) as? [String: Any])
    }

    private static let jsonHeaders: HTTPFields = [.contentType: "application/json"]

    private func create(_ body: String, headers: HTTPFields = [:], on client: any TestClientProtocol) async throws
        -> TestResponse
    {
        var headers = headers
        headers[.contentType] = "application/json"
        return try await client.execute(uri: "/create", method: .post, headers: headers, body: ByteBuffer(string: body))
    }

    @Test func aLinkIsCreatedReadEditedAndDeletedWithItsRevision() async throws {
        try await withRoutes { client in
            let created = try await create(#"{"url":"https://example.com/a","alias":"abc"}"#, on: client)
            #expect(created.status == .created)
            #expect(try Self.json(created)["short_url"] as? String == "http://s.test/abc")

            let read = try await client.execute(uri: "/api/links/abc", method: .get)
            #expect(read.status == .ok && read.headers[.eTag] == "\"1\"")
            #expect(try Self.json(read)["status"] as? String == "active")

            var ifMatch: HTTPFields = Self.jsonHeaders
            ifMatch[.ifMatch] = "\"1\""
            let edit = ByteBuffer(string: #"{"url":"https://example.com/b"}"#)
            let edited = try await client.execute(uri: "/api/links/abc", method: .patch, headers: ifMatch, body: edit)
            #expect(edited.status == .ok && edited.headers[.eTag] == "\"2\"")
            #expect(try Self.json(edited)["url"] as? String == "https://example.com/b")
            let stale = try await client.execute(uri: "/api/links/abc", method: .patch, headers: ifMatch, body: edit)
            #expect(stale.status == .preconditionFailed && stale.headers[.eTag] == "\"2\"")

            #expect(try await client.execute(uri: "/api/links/abc", method: .delete).status == .noContent)
            #expect(try await client.execute(uri: "/api/links/abc", method: .delete).status == .noContent)
            let deleted = try await client.execute(uri: "/api/links/abc", method: .get)
            #expect(try Self.json(deleted)["status"] as? String == "deleted")
            let late = try await client.execute(
                uri: "/api/links/abc", method: .patch, headers: Self.jsonHeaders, body: edit)
            #expect(late.status == .gone)
            // A deleted code is never issued again.
            let again = try await create(#"{"url":"https://example.com/c","alias":"abc"}"#, on: client)
            #expect(again.status == .conflict)
            #expect(try await client.execute(uri: "/api/links/zzz", method: .get).status == .notFound)
        }
    }

    @Test func linksLiveOnTheDomainTheyAreCreatedOnAndDomainsAreChecked() async throws {
        try await withRoutes { client in
            func domains(_ method: HTTPRequest.Method, _ uri: String = "/api/domains", _ body: String? = nil)
                async throws -> TestResponse
            {
                try await client.execute(
                    uri: uri, method: method, headers: Self.jsonHeaders, body: body.map { ByteBuffer(string: $0) })
            }
            #expect(try await domains(.post, "/api/domains", #"{"name":"go.test"}"#).status == .created)
            for (body, code) in [
                (#"{"name":"go.test"}"#, "domain_exists"), (#"{"name":"s.test"}"#, "domain_exists"),
                (#"{"name":"go.test:80"}"#, "invalid_domain"), (#"{}"#, "missing_name"),
                (#"{"name":"x.test","root_url":"ftp://x"}"#, "unsupported_scheme"),
                (#"{"name":"x.test","colour":"red"}"#, "unknown_field"),
            ] {
                let refused = try await domains(.post, "/api/domains", body)
                #expect(String(buffer: refused.body).contains(code), "\(body)")
                #expect(!String(buffer: refused.body).contains(#""field":"domain""#), "a domain's field is its name")
            }
            let patched = try await domains(.patch, "/api/domains/GO.test", #"{"not_found_url":"https://e.com/404"}"#)
            #expect(try Self.json(patched)["not_found_url"] as? String == "https://e.com/404")
            #expect(try await domains(.patch, "/api/domains/none.test", #"{"root_url":null}"#).status == .notFound)
            #expect(try await domains(.delete, "/api/domains/s.test").status == .conflict)

            let onDefault = try await create(#"{"url":"https://example.com/a","alias":"abc"}"#, on: client)
            let onGo = try await create(
                #"{"url":"https://example.com/b","alias":"abc","domain":"go.test"}"#, on: client)
            #expect(onDefault.status == .created && onGo.status == .created)
            #expect(try Self.json(onGo)["short_url"] as? String == "http://go.test/abc")
            #expect(try Self.json(onDefault)["domain"] as? String == "s.test")
            let unknown = try await create(#"{"url":"https://example.com/c","domain":"none.test"}"#, on: client)
            #expect(unknown.status == .badRequest && String(buffer: unknown.body).contains("unknown_domain"))
            let read = try await client.execute(uri: "/api/links/abc?domain=go.test", method: .get)
            #expect(try Self.json(read)["url"] as? String == "https://example.com/b")
            let byHost = try await client.execute(uri: "/api/links/abc?domain=s.test", method: .get)
            #expect(try Self.json(byHost)["url"] as? String == "https://example.com/a", "the default domain's host")
            let page = try await client.execute(uri: "/api/links?domain=go.test", method: .get)
            let links = try #require(try Self.json(page)["links"] as? [[String: Any]])
            #expect(links.compactMap { $0["domain"] as? String } == ["go.test"])
            let bad = try await client.execute(uri: "/api/links/abc?domain=a%20b", method: .get)
            #expect(bad.status == .badRequest)

            // A move: refused onto a taken code, a null or unknown domain; then done, the old
            // address keeping a deleted link.
            func move(_ uri: String, _ body: String) async throws -> TestResponse {
                try await client.execute(
                    uri: uri, method: .patch, headers: Self.jsonHeaders, body: ByteBuffer(string: body))
            }
            #expect(try await move("/api/links/abc", #"{"domain":"go.test"}"#).status == .conflict)
            #expect(try await move("/api/links/abc", #"{"domain":null}"#).status == .badRequest)
            #expect(try await move("/api/links/abc", #"{"domain":"none.test"}"#).status == .badRequest)
            _ = try await create(#"{"url":"https://example.com/d","alias":"def"}"#, on: client)
            let moved = try await move("/api/links/def", #"{"domain":"go.test"}"#)
            #expect(try Self.json(moved)["short_url"] as? String == "http://go.test/def")
            let left = try await client.execute(uri: "/api/links/def", method: .get)
            #expect(try Self.json(left)["status"] as? String == "deleted")
            #expect(try await move("/api/links/def?domain=go.test", #"{"domain":"s.test"}"#).status == .conflict)
        }
    }

    @Test func redirectOptionsAreSetOnCreateAndEditAndChecked() async throws {
        try await withRoutes { client in
            let created = try await create(
                #"{"url":"https://example.com/a","alias":"opt","redirect_type":301,"forward_query":false}"#, on: client)
            let link = try Self.json(created)
            #expect(created.status == .created && link["code"] as? String == "opt")
            let read = try Self.json(try await client.execute(uri: "/api/links/opt", method: .get))
            #expect(read["redirect_type"] as? Int == 301 && read["forward_query"] as? Bool == false)
            #expect(read["crawlable"] as? Bool == false)
            let edited = try await client.execute(
                uri: "/api/links/opt", method: .patch, headers: Self.jsonHeaders,
                body: ByteBuffer(string: #"{"crawlable":true,"redirect_type":307}"#))
            let after = try Self.json(edited)
            #expect(after["redirect_type"] as? Int == 307 && after["crawlable"] as? Bool == true)
            #expect(after["forward_query"] as? Bool == false, "what the edit leaves out stays")
            for bad in [#""redirect_type":303"#, #""redirect_type":"301""#, #""crawlable":1"#] {
                let refused = try await create(#"{"url":"https://example.com/b",\#(bad)}"#, on: client)
                #expect(refused.status == .badRequest, "\(bad)")
            }
        }
    }

    @Test func titlesNotesAndCampaignsAreKeptSearchedAndCleared() async throws {
        try await withRoutes { client in
            let created = try await create(
                #"{"url":"https://example.com/spring","alias":"spr","title":"Spring sale","notes":"for the\nnewsletter","utm":{"source":"news","campaign":"spring 25"}}"#,
                on: client)
            #expect(created.status == .created)
            let read = try Self.json(try await client.execute(uri: "/api/links/spr", method: .get))
            #expect(read["title"] as? String == "Spring sale" && read["notes"] as? String == "for the\nnewsletter")
            #expect(read["utm"] as? [String: String] == ["source": "news", "campaign": "spring 25"])
            let found = try Self.json(try await client.execute(uri: "/api/links?q=newslet", method: .get))
            #expect((found["links"] as? [[String: Any]])?.count == 1)
            let edited = try await client.execute(
                uri: "/api/links/spr", method: .patch, headers: Self.jsonHeaders,
                body: ByteBuffer(string: #"{"title":null,"utm":{}}"#))
            let after = try Self.json(edited)
            #expect(after["title"] is NSNull && after["utm"] as? [String: String] == [:])
            #expect(after["notes"] as? String == "for the\nnewsletter")
            for bad in [
                #""title":"\#(String(repeating: "t", count: 513))""#, #""notes":"a\u0000b""#, #""utm":{"sauce":"x"}"#,
                #""utm":{"source":""}"#, #""utm":{"source":1}"#,
            ] {
                let refused = try await create(#"{"url":"https://example.com/b",\#(bad)}"#, on: client)
                #expect(refused.status == .badRequest, "\(bad.prefix(40))")
            }
        }
    }

    @Test func aCreateMayReuseALiveLinkToTheSameURLOnItsDomain() async throws {
        try await withRoutes { client in
            let first = try await create(#"{"url":"https://example.com/same"}"#, on: client)
            let code = try Self.json(first)["code"] as? String
            let reused = try await create(#"{"url":"https://example.com/same","reuse":true}"#, on: client)
            #expect(try reused.status == .ok && Self.json(reused)["code"] as? String == code)
            let fresh = try await create(#"{"url":"https://example.com/same"}"#, on: client)
            #expect(try fresh.status == .created && Self.json(fresh)["code"] as? String != code)
            let other = try await create(#"{"url":"https://example.com/other","reuse":true}"#, on: client)
            #expect(other.status == .created, "nothing to reuse: a new link")
            #expect(try await client.execute(uri: "/api/links/\(code ?? "")", method: .delete).status == .noContent)
            let afterDelete = try await create(#"{"url":"https://example.com/same","reuse":true}"#, on: client)
            #expect(try Self.json(afterDelete)["code"] as? String != code, "a deleted link is never reused")
            let withAlias = try await create(
                #"{"url":"https://example.com/same","reuse":true,"alias":"abc"}"#, on: client)
            #expect(withAlias.status == .badRequest)
            let bulk = try await client.execute(
                uri: "/api/links/bulk", method: .post, headers: Self.jsonHeaders,
                body: ByteBuffer(string: #"{"links":[{"url":"https://example.com/same","reuse":true}]}"#))
            #expect(String(buffer: bulk.body).contains("invalid_reuse"))
        }
    }

    @Test func listingPagesNewestFirstAndFiltersByTagAndText() async throws {
        try await withRoutes { client in
            for index in 1...5 {
                let tags = index.isMultiple(of: 2) ? #"["even"]"# : "[]"
                let body = #"{"url":"https://example.com/page/\#(index)","alias":"link\#(index)","tags":\#(tags)}"#
                #expect(try await create(body, on: client).status == .created)
            }
            var seen: [String] = []
            var cursor: String?
            repeat {
                let uri = "/api/links?limit=2" + (cursor.map { "&cursor=\($0)" } ?? "")
                let page = try Self.json(try await client.execute(uri: uri, method: .get))
                let links = try #require(page["links"] as? [[String: Any]])
                #expect(links.count <= 2)
                seen += links.compactMap { $0["code"] as? String }
                cursor = page["next_cursor"] as? String
            } while cursor != nil
            #expect(seen == ["link5", "link4", "link3", "link2", "link1"])

            let tagged = try Self.json(try await client.execute(uri: "/api/links?tag=even", method: .get))
            #expect((tagged["links"] as? [[String: Any]])?.compactMap { $0["code"] as? String } == ["link4", "link2"])
            let found = try Self.json(try await client.execute(uri: "/api/links?q=PAGE/3", method: .get))
            #expect((found["links"] as? [[String: Any]])?.compactMap { $0["code"] as? String } == ["link3"])
            let bad = try await client.execute(uri: "/api/links?cursor=nonsense", method: .get)
            #expect(bad.status == .badRequest)
        }
    }

    @Test func theExportIsEveryLinkTheFiltersSelectAsCSVAcrossPages() async throws {
        try await withRoutes { client in
            // One page and a bit more: 1,000 links, then five more, two of them tagged.
            for (count, offset) in [(1000, 0), (5, 1000)] {
                let items = (offset..<offset + count).map { index in
                    let tags = index >= 1003 ? #"["late"]"# : "[]"
                    return #"{"url":"https://example.com/\#(index)?a=1,b=2","title":"Say \"hi\"","tags":\#(tags)}"#
                }
                let answer = try await client.execute(
                    uri: "/api/links/bulk", method: .post, headers: Self.jsonHeaders,
                    body: ByteBuffer(string: #"{"links":[\#(items.joined(separator: ","))]}"#))
                #expect(answer.status == .ok)
            }
            let export = try await client.execute(uri: "/api/links.csv", method: .get)
            #expect(export.status == .ok)
            #expect(export.headers[.contentType] == "text/csv; charset=utf-8")
            #expect(export.headers[.contentDisposition] == #"attachment; filename="links.csv""#)
            let lines = String(buffer: export.body).split(separator: "\n")
            #expect(
                lines.first == "url,alias,expires_at,max_clicks,tags,domain,title,code,created_at,clicks,status,routing"
            )
            #expect(lines.count == 1006)
            // Quoted because of the comma, and the title because of its quotes, which are doubled.
            #expect(
                lines.dropFirst().allSatisfy {
                    $0.hasPrefix(#""https://example.com/"#) && $0.contains(#","Say ""hi""","#)
                })
            // The alias column, the code, follows the quoted URL.
            let codes = Set(lines.dropFirst().map { $0.components(separatedBy: #"b=2","#)[1].prefix { $0 != "," } })
            #expect(codes.count == 1005)

            let tagged = String(buffer: try await client.execute(uri: "/api/links.csv?tag=late", method: .get).body)
            #expect(tagged.split(separator: "\n").count == 3)
            #expect(try await client.execute(uri: "/api/links.csv?tag=No%20Tag", method: .get).status == .badRequest)
        }
    }

    @Test func bulkGivesEachItemItsOwnOutcomeInOrder() async throws {
        try await withRoutes { client in
            #expect(
                try await create(#"{"url":"https://example.com/x","alias":"taken"}"#, on: client).status == .created)
            let body = ByteBuffer(
                string: """
                    {"links":[{"url":"https://example.com/1","alias":"first"},{"url":"nope"},
                    {"url":"https://example.com/2","alias":"first"},{"url":"https://example.com/3","alias":"taken"},
                    {"url":"https://example.com/4"}]}
                    """)
            let answer = try await client.execute(
                uri: "/api/links/bulk", method: .post, headers: Self.jsonHeaders, body: body)
            #expect(answer.status == .ok)
            let results = try #require(try Self.json(answer)["results"] as? [[String: Any]])
            #expect(results.compactMap { $0["status"] as? Int } == [201, 400, 409, 409, 201])
            #expect(results[0]["short_url"] as? String == "http://s.test/first")
        }
    }

    @Test func aRepeatedCreateWithItsIdempotencyKeyIsReplayed() async throws {
        try await withRoutes { client in
            let key: HTTPFields = [.init("Idempotency-Key")!: "order-7"]
            let first = try await create(#"{"url":"https://example.com/once"}"#, headers: key, on: client)
            let second = try await create(#"{"url":"https://example.com/once"}"#, headers: key, on: client)
            #expect(first.status == .created && second.status == .created)
            #expect(second.headers[.init("Idempotent-Replayed")!] == "true")
            #expect(try Self.json(first)["code"] as? String == Self.json(second)["code"] as? String)
            let other = try await create(#"{"url":"https://example.com/other"}"#, headers: key, on: client)
            #expect(other.status == .unprocessableContent)
        }
    }

    @Test func onceAKeyExistsTheAPIRefusesCallersWithoutOne() async throws {
        let keys = APIKeyStore.ActiveKeys(
            byHash: [APIKeyStore.hash("sk_secret"): APIKeyIdentity(id: "key_1", name: "one", role: .admin)],
            required: true)
        try await withRoutes(keys: keys) { client in
            #expect(try await client.execute(uri: "/api/links", method: .get).status == .unauthorized)
            #expect(try await create(#"{"url":"https://example.com/a"}"#, on: client).status == .unauthorized)
            let authorized = try await client.execute(
                uri: "/api/links", method: .get, headers: [.authorization: "Bearer sk_secret"])
            #expect(authorized.status == .ok)
        }
    }

    /// A repository whose every call fails with `error`.
    private struct FailingRepository: LinkRepository {
        let error: any Error

        func create(_ link: NewLink, idempotency: IdempotencyKey?) async throws -> LinkCreation { throw error }
        func link(_ address: LinkAddress) async throws -> Link? { throw error }
        func creationTime(of address: LinkAddress) async throws -> Date? { throw error }
        func liveLink(to url: String, on domain: String?) async throws -> Link? { throw error }
        func list(limit: Int, after cursor: LinkCursor?, filter: LinkFilter) async throws -> [Link] { throw error }
        func delete(_ address: LinkAddress) async throws -> LinkDeletion { throw error }
        func update(_ address: LinkAddress, with change: LinkChange, expectedRevision: Int64?) async throws
            -> LinkEditOutcome
        { throw error }
        func createMany(_ items: [LinkBatchItem]) async throws -> [LinkBatchOutcome] { throw error }
        func createMany(_ items: [LinkBatchItem], idempotency: BatchIdempotency) async throws -> BatchAnswer {
            throw error
        }
    }

    private struct Broken: Error {}

    @Test func aFailingStoreAnswers503OnEveryRouteAndAnOpenBreakerSaysWhenToRetry() async throws {
        let open = CircuitOpenError(dependency: "postgres", retryAfter: .seconds(7))
        try await withRoutes(over: FailingRepository(error: open)) { client in
            for (uri, method) in [("/api/links/abc", HTTPRequest.Method.get), ("/api/links", .get)] {
                let answer = try await client.execute(uri: uri, method: method)
                #expect(answer.status == .serviceUnavailable && answer.headers[.retryAfter] == "7", "\(uri)")
            }
        }
        try await withRoutes(over: FailingRepository(error: Broken())) { client in
            let created = try await create(#"{"url":"https://example.com/a"}"#, on: client)
            #expect(created.status == .serviceUnavailable)
            #expect((try Self.json(created)["error"] as? [String: Any])?["code"] as? String == "unavailable")
            let bulk = try await client.execute(
                uri: "/api/links/bulk", method: .post, headers: Self.jsonHeaders,
                body: ByteBuffer(string: #"{"links":[{"url":"https://example.com/a"}]}"#))
            #expect(bulk.status == .serviceUnavailable)
            #expect(try await client.execute(uri: "/api/links/abc/qr", method: .get).status == .serviceUnavailable)
        }
        // An API error from the store is the answer as it is.
        try await withRoutes(over: FailingRepository(error: APIError.aliasTaken("abc"))) { client in
            let answer = try await client.execute(uri: "/api/links/abc", method: .delete)
            #expect(answer.status == .conflict)
        }
    }
}
