import Foundation
import Hummingbird
import SharedService

/// Reads a request's JSON body for the write endpoints, with the same limits and errors.
enum JSONRequestBody {
    /// Decodes requests; shared, since decoding needs no per-request state.
    private static let decoder = JSONDecoder()

    /// The body decoded as `Body`, and its bytes (for an idempotency hash). Not sent as
    /// `application/json`: `415 unsupported_media_type` (a web page can send any site a
    /// `text/plain` body without asking first, never a JSON one); more than `limit` bytes:
    /// `413 body_too_large`; not JSON of that shape: `400 invalid_json` saying `expected`.
    /// An ``APIError`` thrown while decoding (an unknown field, say) passes through.
    static func decode<Body: Decodable>(
        _ type: Body.Type, from request: Request, limit: Int, expected: String
    ) async throws -> (Body, ByteBuffer) {
        guard isJSON(request.headers[.contentType]) else {
            throw APIError(
                .unsupportedMediaType, "unsupported_media_type",
                "the body must be sent as Content-Type: application/json")
        }
        let bytes: ByteBuffer
        do {
            bytes = try await request.body.collect(upTo: limit)
        } catch {
            throw APIError(.contentTooLarge, "body_too_large", "the body is larger than \(limit) bytes")
        }
        do {
            return (try decoder.decode(Body.self, from: Data(buffer: bytes)), bytes)
        } catch let error as APIError {
            throw error
        } catch {
            throw APIError(.badRequest, "invalid_json", "the body must be \(expected)")
        }
    }

    /// Whether a `Content-Type` names `application/json` (parameters such as `charset` allowed).
    static func isJSON(_ contentType: String?) -> Bool {
        guard let contentType else { return false }
        let mediaType = contentType.prefix { $0 != ";" }.trimmingCharacters(in: .whitespaces)
        return mediaType.caseInsensitiveCompare("application/json") == .orderedSame
    }
}
