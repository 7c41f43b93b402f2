import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import TestSupport
import Testing
@testable import Master

/// The web app's files and the QR code endpoint on the master as `master serve` composes it,
/// against the real Postgres. (The app itself is tested in Chromium by scripts/browser_test.sh,
/// and the QR codes are read back there by zbarimg.)
@Suite struct WebAppAndQRCodeTests {
    private func withMaster(_ body: @Sendable (any TestClientProtocol) async throws -> Void) async throws {
        let namespace = try await TestStack.makeNamespace()
        let master = try MasterApplication(
            configuration: .test(namespace, webDirectory: MasterApplication.Configuration.repositoryWebDirectory),
            logger: TestStack.logger)
        try await withRunningServices(master.backgroundServices) {
            try await master.http.test(.router) { http in try await body(http) }
        }
    }

    private func create(_ http: any TestClientProtocol, _ json: String) async throws -> [String: Any] {
        let reply = try await http.executeJSON(uri: "/create", method: .post, body: ByteBuffer(string: json))
        try #require(reply.status == .created, "\(String(buffer: reply.body))")
        return try #require(try JSONSerialization.jsonObject(with: Data(buffer: reply.body)) as? [String: Any])
    }

    private func error(_ reply: TestResponse) throws -> [String: String] {
        let body = try JSONSerialization.jsonObject(with: Data(buffer: reply.body)) as? [String: [String: String]]
        return try #require(body?["error"])
    }

    @Test func thePageAndItsFilesComeWithAStrictPolicyAndRevalidate() async throws {
        try await withMaster { http in
            let page = try await http.execute(uri: "/", method: .get)
            #expect(page.status == .ok)
            #expect(page.headers[.contentType] == "text/html; charset=utf-8")
            let policy = try #require(page.headers[.contentSecurityPolicy])
            #expect(policy.contains("default-src 'none'") && policy.contains("script-src 'self'"))
            #expect(!policy.contains("unsafe-inline"))
            #expect(String(buffer: page.body).contains(#"<script type="module" src="/app/app.js">"#))

            let script = try await http.execute(uri: "/app/app.js", method: .get)
            #expect(script.status == .ok)
            #expect(script.headers[.contentType] == "text/javascript; charset=utf-8")
            #expect(script.headers[.cacheControl] == "no-cache")
            let etag = try #require(script.headers[.eTag])
            let again = try await http.execute(
                uri: "/app/app.js", method: .get, headers: [.ifNoneMatch: "\"x\", \(etag)"])
            #expect(again.status == .notModified)
            #expect(again.body.readableBytes == 0)

            for path in ["/app/missing.js", "/app/..%2FPackage.swift", "/app/.hidden.js", "/app/README.md"] {
                #expect(try await http.execute(uri: path, method: .get).status == .notFound, "\(path)")
            }
        }
    }

    @Test func errorsNameTheFieldAtFaultAndLinksCarryTheirShortURL() async throws {
        try await withMaster { http in
            let alias = "field-\(UInt32.random(in: 0...UInt32.max))"
            let created = try await create(http, #"{"url":"https://example.com/a","alias":"\#(alias)"}"#)
            let taken = try await http.executeJSON(
                uri: "/create", method: .post,
                body: ByteBuffer(string: #"{"url":"https://example.com/b","alias":"\#(alias)"}"#))
            #expect(taken.status == .conflict)
            #expect(
                try error(taken) == [
                    "code": "alias_taken", "field": "alias", "message": "the alias '\(alias)' is already taken",
                ])
            let badURL = try await http.executeJSON(
                uri: "/create", method: .post, body: ByteBuffer(string: #"{"url":"nope"}"#))
            #expect(try error(badURL)["field"] == "url")

            let read = try await http.execute(uri: "/api/links/\(alias)", method: .get)
            let body = try #require(try JSONSerialization.jsonObject(with: Data(buffer: read.body)) as? [String: Any])
            #expect(body["short_url"] as? String == created["short_url"] as? String)
        }
    }

    @Test func theListFindsTextInCodesAndTargetsLiterally() async throws {
        try await withMaster { http in
            let marker = "m\(UInt32.random(in: 0...UInt32.max))"
            let plain = try await create(http, #"{"url":"https://example.com/\#(marker)/a"}"#)
            let percent = try await create(http, #"{"url":"https://example.com/\#(marker)/100%25_off"}"#)
            let coded = try await create(http, #"{"url":"https://example.com/x","alias":"\#(marker)-alias"}"#)
            func codes(_ search: String) async throws -> [String] {
                let query = search.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
                let reply = try await http.execute(uri: "/api/links?q=\(query)", method: .get)
                try #require(reply.status == .ok, "\(String(buffer: reply.body))")
                let body = try JSONSerialization.jsonObject(with: Data(buffer: reply.body)) as? [String: Any]
                return (body?["links"] as? [[String: Any]] ?? []).compactMap { $0["code"] as? String }
            }
            let all = [coded, percent, plain].compactMap { $0["code"] as? String }
            #expect(try await codes(marker) == all)
            #expect(try await codes(marker.uppercased()) == all)
            // % and _ are text, not wildcards.
            #expect(try await codes("\(marker)/100%25_") == [percent["code"] as? String])
            #expect(try await codes("\(marker)_") == [])
            let tooLong = try await http.execute(
                uri: "/api/links?q=\(String(repeating: "a", count: 201))", method: .get)
            #expect(tooLong.status == .badRequest)
            #expect(try error(tooLong)["field"] == "q")
        }
    }

    @Test func qrCodesAnswerInBothFormatsAndRefuseBadParameters() async throws {
        try await withMaster { http in
            let code = try #require(try await create(http, #"{"url":"https://example.com/qr"}"#)["code"] as? String)
            let png = try await http.execute(uri: "/api/links/\(code)/qr?format=png&size=300&margin=2", method: .get)
            #expect(png.status == .ok)
            #expect(png.headers[.contentType] == "image/png")
            let bytes = Array(buffer: png.body)
            #expect(bytes.prefix(8) == [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
            // IHDR: width and height, big-endian, at bytes 16 and 20.
            #expect(bytes[16..<24] == [0, 0, 1, 44, 0, 0, 1, 44])

            let svg = try await http.execute(uri: "/api/links/\(code)/qr", method: .get)
            #expect(svg.status == .ok)
            #expect(svg.headers[.contentType] == "image/svg+xml")
            #expect(
                String(buffer: svg.body).hasPrefix(#"<svg xmlns="http://www.w3.org/2000/svg" width="256" height="256""#)
            )

            for (query, field) in [
                ("format=gif", "format"), ("size=31", "size"), ("size=2049", "size"), ("size=-5", "size"),
                ("size=1e3", "size"), ("margin=17", "margin"), ("level=X", "level"), ("size=40&margin=16", "size"),
            ] {
                let reply = try await http.execute(uri: "/api/links/\(code)/qr?\(query)", method: .get)
                #expect(reply.status == .badRequest, "\(query)")
                #expect(try error(reply)["field"] == field, "\(query)")
            }
            #expect(try await http.execute(uri: "/api/links/no-such-code/qr", method: .get).status == .notFound)
            #expect(try await http.execute(uri: "/api/links/bad%20code/qr", method: .get).status == .notFound)
        }
    }

    /// A link's stats cover its whole life by default (one daily bucket for a link made today);
    /// an unknown code is a 404, as for its QR code.
    @Test func statsStartAtTheLinksCreationAndUnknownCodesAreNotFound() async throws {
        try await withMaster { http in
            let code = try #require(try await create(http, #"{"url":"https://example.com/stats"}"#)["code"] as? String)
            let stats = try await http.execute(uri: "/api/links/\(code)/stats", method: .get)
            #expect(stats.status == .ok)
            let answer = try #require(
                try JSONSerialization.jsonObject(with: Data(buffer: stats.body)) as? [String: Any])
            #expect(answer["total"] as? Int == 0)
            let series = try #require(answer["series"] as? [[String: Any]])
            let link = try await http.execute(uri: "/api/links/\(code)", method: .get)
            let details = try #require(
                try JSONSerialization.jsonObject(with: Data(buffer: link.body)) as? [String: Any])
            let createdOn = try #require((details["created_at"] as? String)?.prefix(10))
            // The creation day's bucket first (and a second one only if midnight passed meanwhile).
            #expect((series.first?["start"] as? String)?.hasPrefix(createdOn) == true, "\(series)")
            #expect((1...2).contains(series.count), "\(series)")
            #expect(try await http.execute(uri: "/api/links/no-such-code/stats", method: .get).status == .notFound)
        }
    }
}
