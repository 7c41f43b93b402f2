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
        let bytes = try await RequestBodies.collect(request, as: "application/json", limit: limit)
        do {
            return (try decoder.decode(Body.self, from: Data(buffer: bytes)), bytes)
        } catch let error as APIError {
            throw error
        } catch {
            throw APIError(.badRequest, "invalid_json", "the body must be \(expected)")
        }
    }

}
