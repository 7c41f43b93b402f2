import Foundation
import Hummingbird
import NIOConcurrencyHelpers
import TestSupport
import Testing

/// The master's background title fetch, with the real executable and a real page server on
/// loopback: a link created without a title gets its page's, through a redirect too, on create
/// and bulk; a title given is kept and its page never fetched; a page past 256 KiB, slower than
/// the timeout or not HTML gives none; and a master that may not call private addresses never
/// calls one.
@Suite struct TitleFetchEndToEndTests {
    /// The pages the tests' links point at, each request's path noted in `requests`.
    private static func pageServer(requests: NIOLockedValueBox<[String]>) async throws -> TestServer {
        let router = Router()
        let html: HTTPFields = [.contentType: "text/html; charset=utf-8"]
        func page(_ path: String, _ answer: @escaping @Sendable () async throws -> Response) {
            router.get(RouterPath(path)) { request, _ in
                requests.withLockedValue { $0.append(request.uri.description) }
                return try await answer()
            }
        }
        page("page") {
            Response(
                status: .ok, headers: html,
                body: .init(
                    byteBuffer: ByteBuffer(
                        string: "<html><head><TITLE lang=en>\n  Spring &amp; Summer\n   Sale &#8212; 50%</title></head>"
                    )))
        }
        page("moved") { Response(status: .movedPermanently, headers: [.location: "/page"]) }
        page("big") {
            let filler = String(repeating: "<p>filler</p>", count: 300 * 1024 / 13)
            return Response(
                status: .ok, headers: html,
                body: .init(byteBuffer: ByteBuffer(string: "<html><body>\(filler)<title>Too far</title>")))
        }
        page("slow") {
            try await Task.sleep(for: .seconds(8))
            return Response(
                status: .ok, headers: html, body: .init(byteBuffer: ByteBuffer(string: "<title>Late</title>")))
        }
        page("data") {
            Response(
                status: .ok, headers: [.contentType: "application/json"],
                body: .init(byteBuffer: ByteBuffer(string: #"{"html":"<title>Not a page</title>"}"#)))
        }
        page("titled") {
            Response(status: .ok, headers: html, body: .init(byteBuffer: ByteBuffer(string: "<title>Theirs</title>")))
        }
        return try await TestServer(router: router, name: "page-server")
    }

    private func create(_ master: TestDeployment.Running, _ body: String) async throws -> String {
        let created = try await TestHTTP.post("\(master.url)/create", body: body)
        #expect(created.status == 201, "\(created.body)")
        return try #require(created.json["code"] as? String)
    }

    private func title(_ master: TestDeployment.Running, _ code: String) async throws -> String? {
        try await TestHTTP.get("\(master.url)/api/links/\(code)").json["title"] as? String
    }

    @Test func newLinksGetTheirPagesTitleWithinTheLimits() async throws {
        let requests = NIOLockedValueBox<[String]>([])
        let pages = try await Self.pageServer(requests: requests)
        defer { pages.stop() }
        let site = "http://127.0.0.1:\(pages.port)"
        var deployment = try TestDeployment(namespace: try await TestStack.makeNamespace())
        deployment.environment["SHORTENER_FETCH_TITLES"] = "true"
        deployment.environment["SHORTENER_FETCH_TITLES_ALLOW_PRIVATE"] = "true"
        // 7 s rather than 2 (the slow page answers after 8): the page server shares this
        // process with a busy test run, where 5 s ran out once.
        deployment.environment["SHORTENER_FETCH_TITLES_TIMEOUT"] = "7"
        let master = try deployment.master()
        try await master.waitUntilHealthy()

        let page = try await create(master, #"{"url":"\#(site)/page"}"#)
        let moved = try await create(master, #"{"url":"\#(site)/moved"}"#)
        let titled = try await create(master, #"{"url":"\#(site)/titled","title":"Mine"}"#)
        let big = try await create(master, #"{"url":"\#(site)/big"}"#)
        let slow = try await create(master, #"{"url":"\#(site)/slow"}"#)
        let data = try await create(master, #"{"url":"\#(site)/data"}"#)
        let bulk = try await TestHTTP.post(
            "\(master.url)/api/links/bulk", body: #"{"links":[{"url":"\#(site)/page?bulk=1"}]}"#)
        let bulkCode = try #require(
            ((bulk.json["results"] as? [[String: Any]])?.first?["code"]) as? String, "\(bulk.body)")

        let expected = "Spring & Summer Sale — 50%"
        for code in [page, moved, bulkCode] {
            #expect(try await eventually { try await title(master, code) == expected }, "\(code)")
        }
        let saved = try await TestHTTP.get("\(master.url)/api/links/\(page)")
        #expect(saved.json["revision"] as? Int == 2, "the title is saved as an edit")
        // The slow page's fetch ends at 7 s; give every fetch time to end.
        #expect(await eventually { requests.withLockedValue { $0.contains("/slow") } })
        try await Task.sleep(for: .seconds(8))
        for code in [big, slow, data] { #expect(try await title(master, code) == nil, "\(code)") }
        #expect(try await title(master, titled) == "Mine")
        let seen = requests.withLockedValue { $0 }
        #expect(!seen.contains("/titled"), "a link with a title never has its page fetched")
        #expect(seen.filter { $0 == "/page" }.count == 2, "once for the link, once through the redirect: \(seen)")

        let metrics = try await PrometheusScrape.fetch("\(master.url)/metrics")
        #expect(metrics.value("shortener_title_fetches_total", ["outcome": "saved"]) == 3)
        #expect(metrics.value("shortener_title_fetches_total", ["outcome": "no_title"]) == 2)
        #expect(metrics.value("shortener_title_fetches_total", ["outcome": "failed"]) == 1)
    }

    @Test func aMasterThatMayNotCallPrivateAddressesNeverCallsOne() async throws {
        let requests = NIOLockedValueBox<[String]>([])
        let pages = try await Self.pageServer(requests: requests)
        defer { pages.stop() }
        let port = pages.port
        var deployment = try TestDeployment(namespace: try await TestStack.makeNamespace())
        deployment.environment["SHORTENER_FETCH_TITLES"] = "true"
        let master = try deployment.master()
        try await master.waitUntilHealthy()
        let code = try await create(master, #"{"url":"http://127.0.0.1:\#(port)/page"}"#)
        let local = try await create(master, #"{"url":"http://localhost:\#(port)/page"}"#)
        #expect(
            try await eventually {
                let metrics = try await PrometheusScrape.fetch("\(master.url)/metrics")
                return metrics.value("shortener_title_fetches_total", ["outcome": "refused"]) == 2
            })
        #expect(requests.withLockedValue { $0 }.isEmpty)
        #expect(try await title(master, code) == nil)
        #expect(try await title(master, local) == nil)
    }
}
