import Foundation
import NIOCore
import SharedEvents
import SharedJSON
@testable import SharedLinks
import SharedService
@testable import Master
import TestSupport
import Testing

@Suite struct LinkRequestTests {
    private func problem(_ request: LinkRequest) -> String? {
        do {
            _ = try request.validated(now: Date(timeIntervalSince1970: 1_800_000_000))
            return nil
        } catch {
            return error.code
        }
    }

    @Test func acceptsHTTPAndHTTPSURLs() throws {
        let link = try LinkRequest(url: "  https://example.com/a?b=c#d ").validated()
        #expect(link.url == "https://example.com/a?b=c#d")
        #expect(problem(LinkRequest(url: "http://example.com")) == nil)
        #expect(problem(LinkRequest(url: "HTTPS://EXAMPLE.COM/x")) == nil)
    }

    @Test(
        arguments: [
            (nil, "missing_url"), ("", "missing_url"), ("example.com", "invalid_url"), ("https://", "invalid_url"),
            ("https://exa mple.com", "invalid_url"), ("ftp://example.com/file", "unsupported_scheme"),
            ("javascript:alert(1)", "unsupported_scheme"), ("mailto:a@b.c", "unsupported_scheme"),
        ] as [(String?, String)])
    func rejectsWhatIsNotAWebURL(url: String?, code: String) {
        #expect(problem(LinkRequest(url: url)) == code)
    }

    @Test func rejectsURLsLongerThanTheLimit() {
        let long = "https://example.com/" + String(repeating: "a", count: LinkRequest.maximumURLLength)
        #expect(problem(LinkRequest(url: long)) == "url_too_long")
    }

    @Test func validatesAliases() {
        #expect(problem(LinkRequest(url: "https://e.com", alias: "my-link_1")) == nil)
        #expect(problem(LinkRequest(url: "https://e.com", alias: "ab")) == "invalid_alias")
        #expect(problem(LinkRequest(url: "https://e.com", alias: "a/b/c")) == "invalid_alias")
        #expect(problem(LinkRequest(url: "https://e.com", alias: String(repeating: "a", count: 65))) == "invalid_alias")
        #expect(problem(LinkRequest(url: "https://e.com", alias: "Health")) == "reserved_alias")
        #expect(problem(LinkRequest(url: "https://e.com", alias: "api")) == "reserved_alias")
    }

    @Test func expiryMustBeAFutureRFC3339Time() throws {
        #expect(problem(LinkRequest(url: "https://e.com", expiresAt: "2030-01-01T00:00:00Z")) == nil)
        #expect(problem(LinkRequest(url: "https://e.com", expiresAt: "2020-01-01T00:00:00Z")) == "invalid_expires_at")
        #expect(problem(LinkRequest(url: "https://e.com", expiresAt: "tomorrow")) == "invalid_expires_at")
    }

    @Test func errorsAreJSONWithCodeAndMessage() throws {
        let error = APIError(.badRequest, "invalid_url", "'url' has no host")
        let object = try JSONSerialization.jsonObject(with: Data(error.body)) as? [String: [String: String]]
        #expect(object?["error"]?["code"] == "invalid_url")
        #expect(object?["error"]?["message"] == "'url' has no host")
    }
}

@Suite struct ShortCodeTests {
    @Test func generatedCodesAreShortURLSafeAndVaried() {
        let codes = (0..<2000).map { _ in ShortCode.random() }
        #expect(codes.allSatisfy { $0.count == ShortCode.generatedLength && ShortCode.isWellFormed($0) })
        #expect(Set(codes).count == codes.count)
        #expect(codes.allSatisfy { $0.allSatisfy { !"0O1lI".contains($0) } })
    }

    @Test func everyPositionDrawsEveryCharacterEvenlyWithFewDraws() {
        var generator = SeededGenerator(state: 0x5EED)
        let length = 32  // an API key's secret: four draws of up to ten characters
        let codes = (0..<57_000).map { _ in ShortCode.random(length: length, using: &generator) }
        // Four draws a secret, and a few more: a draw below 57^10 is rejected at most 2 % of the time.
        #expect(generator.draws < codes.count * 4 * 102 / 100)
        for position in 0..<length {
            var counts: [UInt8: Int] = [:]
            for code in codes { counts[Array(code.utf8)[position], default: 0] += 1 }
            #expect(Set(counts.keys) == Set(ShortCode.alphabet), "position \(position)")
            #expect(counts.values.allSatisfy { (850...1150).contains($0) }, "position \(position)")
        }
    }

    @Test func wellFormedCodes() {
        #expect(ShortCode.isWellFormed("abc-DEF_123"))
        #expect(!ShortCode.isWellFormed(""))
        #expect(!ShortCode.isWellFormed("a.b"))
        #expect(!ShortCode.isWellFormed("ä"))
        #expect(!ShortCode.isWellFormed(String(repeating: "a", count: 65)))
    }
}

@Suite struct CreatedBodyTests {
    /// What the generic encoder writes for the same answer.
    private struct Created: Encodable {
        let code: String
        let domain: String
        let shortURL: String
        let url: String

        enum CodingKeys: String, CodingKey {
            case code, domain, url
            case shortURL = "short_url"
        }
    }

    @Test(arguments: [
        ("abc1234", "localhost", "http://localhost:8081/abc1234", "https://example.com/a?b=c#d"),
        ("my-alias_1", "s.example", "https://s.example/x/my-alias_1", "https://xn--bcher-kva.example/%C3%BC"),
        ("a", "h", "http://h/\"quoted\"\\\u{1}", "https://e.com/"),
    ])
    func isTheGenericEncodersJSON(code: String, domain: String, shortURL: String, url: String) throws {
        let written = CreateLinkController.createdBody(code: code, domain: domain, shortURL: shortURL, url: url)
        let expected = try JSONEncoder.project.encode(
            Created(code: code, domain: domain, shortURL: shortURL, url: url))
        #expect(Array(buffer: written) == Array(expected))
    }
}
