/// The referrer dimension of a click: the host of the `Referer` header, lower-cased, without a
/// leading `www.` or a port; `direct` without the header and `invalid` when it names no host
/// (not an absolute http(s) URL, or a host that is no DNS name or IP address).
enum ReferrerHost {
    static let direct = "direct"
    static let invalid = "invalid"

    /// Read byte by byte: every redirect asks, and a header may be kilobytes long, of which only
    /// the host is ever looked at (or lower-cased).
    static func of(_ referer: String?) -> String {
        guard var referer, !referer.isEmpty else { return direct }
        return referer.withUTF8(host(in:))
    }

    private static func host(in bytes: UnsafeBufferPointer<UInt8>) -> String {
        func lowered(_ byte: UInt8) -> UInt8 { byte >= 0x41 && byte <= 0x5A ? byte | 0x20 : byte }
        func starts(with prefix: String, at index: Int, before end: Int) -> Bool {
            guard end - index >= prefix.utf8.count else { return false }
            return zip(bytes[index...], prefix.utf8).allSatisfy { lowered($0) == $1 }
        }
        let scheme =
            starts(with: "https://", at: 0, before: bytes.count)
            ? 8 : starts(with: "http://", at: 0, before: bytes.count) ? 7 : nil
        guard let scheme else { return invalid }
        // The authority runs to the path, query or fragment; the host follows any user info.
        var end = scheme
        while end < bytes.count, bytes[end] != UInt8(ascii: "/"), bytes[end] != UInt8(ascii: "?"),
            bytes[end] != UInt8(ascii: "#")
        {
            end += 1
        }
        var start = scheme
        for index in scheme..<end where bytes[index] == UInt8(ascii: "@") { start = index + 1 }
        var hostEnd = start
        if start < end, bytes[start] == UInt8(ascii: "[") {
            guard let close = (start..<end).first(where: { bytes[$0] == UInt8(ascii: "]") }) else { return invalid }
            hostEnd = close + 1
        } else {
            while hostEnd < end, bytes[hostEnd] != UInt8(ascii: ":") { hostEnd += 1 }
        }
        if starts(with: "www.", at: start, before: hostEnd) { start += 4 }
        while hostEnd > start, bytes[hostEnd - 1] == UInt8(ascii: ".") { hostEnd -= 1 }
        guard hostEnd > start, hostEnd - start <= 253 else { return invalid }
        let host = bytes[start..<hostEnd].map(lowered)
        let allowed = host.allSatisfy { byte in
            (byte >= 0x61 && byte <= 0x7A) || (byte >= 0x30 && byte <= 0x39) || byte == 0x2D || byte == 0x2E
                || byte == 0x3A || byte == 0x5B || byte == 0x5D
        }
        return allowed ? String(decoding: host, as: UTF8.self) : invalid
    }
}
