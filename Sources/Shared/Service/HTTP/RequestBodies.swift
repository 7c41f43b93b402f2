import Hummingbird

/// Reads a request's body of one media type, with the same limits and errors on every route.
public enum RequestBodies {
    /// The body, sent as `mediaType` (parameters such as `charset` allowed, any case): `415
    /// unsupported_media_type` otherwise, `413 body_too_large` past `limit` bytes.
    public static func collect(_ request: Request, as mediaType: String, limit: Int) async throws -> ByteBuffer {
        guard isMediaType(request.headers[.contentType], mediaType) else {
            throw APIError(
                .unsupportedMediaType, "unsupported_media_type", "the body must be sent as Content-Type: \(mediaType)")
        }
        do {
            return try await request.body.collect(upTo: limit)
        } catch {
            throw APIError(.contentTooLarge, "body_too_large", "the body is larger than \(limit) bytes")
        }
    }

    /// Whether a `Content-Type` names `mediaType`.
    public static func isMediaType(_ contentType: String?, _ mediaType: String) -> Bool {
        guard let contentType else { return false }
        let named = contentType.prefix { $0 != ";" }.trimmingCharacters(in: .whitespaces)
        return named.caseInsensitiveCompare(mediaType) == .orderedSame
    }
}
