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

    /// Whether a `Content-Type` names `mediaType` (ASCII, any case), before its parameters and
    /// between spaces or tabs. Byte by byte: Foundation's trimming and comparison cost a flood
    /// of form posts several percent of a replica's CPU.
    public static func isMediaType(_ contentType: String?, _ mediaType: String) -> Bool {
        guard let contentType else { return false }
        let blank: (UInt8) -> Bool = { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") }
        var named = contentType.utf8.prefix { $0 != UInt8(ascii: ";") }
        while let first = named.first, blank(first) { named.removeFirst() }
        while let last = named.last, blank(last) { named.removeLast() }
        return named.elementsEqual(mediaType.utf8) { lowercased($0) == lowercased($1) }
    }

    /// An ASCII letter in lower case; every other byte as it is.
    private static func lowercased(_ byte: UInt8) -> UInt8 {
        (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte) ? byte + 32 : byte
    }
}
