import Foundation
import Hummingbird
import HummingbirdTesting
import PostgresNIO
import SharedResilience
import TestSupport
import Testing
@testable import Master

/// Values from outside reach Postgres only inside the range it accepts, and a client's own
/// mistakes never open the Postgres breaker for everyone else.
@Suite struct RequestRangeTests {
    private func withMaster(
        _ body: @Sendable (any TestClientProtocol, CircuitBreaker) async throws -> Void
    ) async throws {
        let namespace = try await TestStack.makeNamespace()
        let master = try MasterApplication(configuration: .test(namespace), logger: TestStack.logger)
        try await withRunningServices(master.backgroundServices) {
            try await master.http.test(.router) { http in try await body(http, master.repository.breaker) }
        }
    }

    @Test func cursorsOutsideThePostgresRangeAnswer400() async throws {
        try await withMaster { http, _ in
            let tokens = [
                "LTkyMjMzNzIwMzY4NTQ3NzU4MDg6YWJj",  // -9223372036854775808:abc, the reported crash
                Self.token("9223372036854775807:abc"), Self.token("-1:abc"),
                Self.token("253402300800000001:abc"), Self.token("99999999999999999999:abc"),
                Self.token("0:"), Self.token("0:A.example/b"), Self.token("0:/b"), Self.token("0:a.example/"),
                String(repeating: "A", count: 10_000), "%00",
            ]
            for token in tokens {
                let escaped = token.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? token
                let reply = try await http.execute(uri: "/api/links?cursor=\(escaped)", method: .get)
                #expect(reply.status == .badRequest, "\(token)")
                #expect(String(buffer: reply.body).contains("invalid_cursor"))
            }
            let valid = try await http.execute(uri: "/api/links?cursor=\(Self.token("0:abc"))", method: .get)
            #expect(valid.status == .ok)
        }
    }

    @Test func reusedIdempotencyKeysDoNotOpenThePostgresBreaker() async throws {
        try await withMaster { http, breaker in
            let key: HTTPFields = [.idempotencyKey: "order-1"]
            for index in 0..<6 {
                let reply = try await http.executeJSON(
                    uri: "/create", method: .post, headers: key,
                    body: ByteBuffer(string: #"{"url":"https://example.com/\#(index)"}"#))
                #expect(reply.status == (index == 0 ? .created : .unprocessableContent))
            }
            for body in [#"{"url":"https://e.com/","alias":"api"}"#, #"{"url":"http://[::1]:99999/"}"#] {
                for _ in 0..<10 {
                    let reply = try await http.executeJSON(
                        uri: "/create", method: .post, body: ByteBuffer(string: body))
                    #expect(reply.status == .badRequest)
                }
            }
            #expect(breaker.state == .closed)
            let valid = try await http.executeJSON(
                uri: "/create", method: .post, body: ByteBuffer(string: #"{"url":"https://example.com/ok"}"#))
            #expect(valid.status == .created)
            let ready = try await http.execute(uri: "/health/ready", method: .get)
            #expect(ready.status == .ok, "\(String(buffer: ready.body))")
        }
    }

    @Test func storedTargetsAreASCIIURIs() async throws {
        try await withMaster { http, _ in
            let reply = try await http.executeJSON(
                uri: "/create", method: .post, body: ByteBuffer(string: #"{"url":"https://Exämple.com/ü"}"#))
            #expect(reply.status == .created)
            let json = try JSONSerialization.jsonObject(with: Data(buffer: reply.body)) as? [String: String]
            #expect(json?["url"] == "https://xn--exmple-cua.com/%C3%BC")
            let code = try #require(json?["code"])
            let details = try await http.execute(uri: "/api/links/\(code)", method: .get)
            #expect(String(buffer: details.body).contains(#""url":"https://xn--exmple-cua.com/%C3%BC""#))
        }
    }

    private static func token(_ text: String) -> String {
        Data(text.utf8).base64EncodedString().replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }
}
