import Foundation
import Hummingbird
import SharedJSON
import SharedResilience

/// An error answered to an HTTP client as `{"error": {"code": "…", "message": "…"}}`, with
/// `"field": "…"` when one field of the request is at fault (the web app shows the message
/// there). `code` is a stable machine-readable name; `message` explains it to a person.
public struct APIError: HTTPResponseError, CallerFault, Equatable, Sendable {
    public let status: HTTPResponse.Status
    /// Stable machine-readable name of the problem, e.g. `invalid_url`.
    public let code: String
    /// What went wrong, for a person.
    public let message: String
    /// The request's field at fault (`url`, `alias`, a query parameter, …), if one is.
    public let field: String?
    /// Extra headers, e.g. `Retry-After`.
    public var headers: HTTPFields = [:]

    public init(_ status: HTTPResponse.Status, _ code: String, _ message: String, field: String? = nil) {
        self.status = status
        self.code = code
        self.message = message
        self.field = field
    }

    /// The body as JSON bytes, written by hand (``JSONWriter``): a flood of requests that fail
    /// (unknown codes, refused passwords) is answered with one each, and Foundation's
    /// `JSONSerialization` took a seventh of a replica's work under such a flood.
    public var body: [UInt8] {
        var json = JSONWriter()
        json.open()
        json.key("error")
        json.open()
        json.field("code", code)
        json.field("field", field)
        json.field("message", message)
        json.close()
        json.close()
        return json.bytes
    }

    /// The answer's headers: ``headers`` and the JSON content type.
    public var responseHeaders: HTTPFields {
        var headers = self.headers
        headers[.contentType] = "application/json; charset=utf-8"
        return headers
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        Response(status: status, headers: responseHeaders, body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }

    /// A dependency failed or its circuit is open: retry later.
    public static func unavailable(_ message: String, retryAfterSeconds: Int = 1) -> APIError {
        var error = APIError(.serviceUnavailable, "unavailable", message)
        error.headers[.retryAfter] = String(retryAfterSeconds)
        return error
    }

    /// A dependency's circuit breaker is open: `503` with the breaker's `Retry-After`.
    public static func unavailable(_ open: CircuitOpenError) -> APIError {
        let seconds = max(1, Int((Double(open.retryAfter.components.seconds) + 0.999).rounded(.down)))
        return unavailable("\(open.dependency) is unavailable; try again in \(seconds) s", retryAfterSeconds: seconds)
    }

    /// No link has the requested code (or the code is not even well formed).
    public static let unknownCode = APIError(.notFound, "not_found", "no link has this code")
}
