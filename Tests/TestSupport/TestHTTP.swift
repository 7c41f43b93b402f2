import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

/// An HTTP client for tests that does not follow redirects (the redirect is what we test).
/// Connecting may take up to 10 s: at the start of a run every suite asks the dev broker for a
/// namespace at once, and on a loaded two-core CI machine 2 s was not always enough. A request
/// may take 10 s unless its caller allows more (``send(_:timeout:)``). Idle
/// connections are dropped after 2 s, well before a service's header timeout closes them (10 s,
/// 5 s in the hardening tests): a connection reused just as the server closed it failed tests
/// with remoteConnectionClosed and "I/O on closed channel".
public enum TestHTTP {
    public static let client = HTTPClient(
        eventLoopGroupProvider: .singleton,
        configuration: .init(
            redirectConfiguration: .disallow, timeout: .init(connect: .seconds(10), read: .seconds(40)),
            connectionPool: .init(idleTimeout: .seconds(2)))
    )

    /// A response reduced to what tests look at.
    public struct Reply: Sendable {
        public let status: Int
        public let headers: [String: String]
        public let body: String

        /// The body parsed as a JSON object.
        public var json: [String: Any] {
            (try? JSONSerialization.jsonObject(with: Data(body.utf8))) as? [String: Any] ?? [:]
        }
    }

    public static func get(_ url: String, headers: [String: String] = [:]) async throws -> Reply {
        try await send(.GET, url, headers: headers)
    }

    public static func post(_ url: String, body: String, headers: [String: String] = [:]) async throws -> Reply {
        try await send(.POST, url, body: body, headers: headers)
    }

    public static func patch(_ url: String, body: String, headers: [String: String] = [:]) async throws -> Reply {
        try await send(.PATCH, url, body: body, headers: headers)
    }

    public static func delete(_ url: String, headers: [String: String] = [:]) async throws -> Reply {
        try await send(.DELETE, url, headers: headers)
    }

    /// One request with any method; a body is sent as JSON.
    public static func send(
        _ method: HTTPMethod, _ url: String, body: String? = nil, headers: [String: String]
    ) async throws -> Reply {
        var request = HTTPClientRequest(url: url)
        request.method = method
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(string: body))
        }
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        return try await send(request)
    }

    /// Sends `request` as it is, waiting up to `timeout` for its answer. Of a stream of
    /// Server-Sent Events, which never ends by itself, the body is its first event.
    public static func send(_ request: HTTPClientRequest, timeout: Duration = .seconds(10)) async throws -> Reply {
        let response = try await client.execute(request, timeout: .init(timeout))
        var headers: [String: String] = [:]
        for header in response.headers { headers[header.name.lowercased()] = header.value }
        guard headers["content-type"]?.hasPrefix("text/event-stream") == true else {
            let body = try await response.body.collect(upTo: 1 << 20)
            return Reply(status: Int(response.status.code), headers: headers, body: String(buffer: body))
        }
        var text = ""
        for try await chunk in response.body {
            text += String(buffer: chunk)
            if text.contains("\n\n") { break }
        }
        return Reply(status: Int(response.status.code), headers: headers, body: text)
    }
}
