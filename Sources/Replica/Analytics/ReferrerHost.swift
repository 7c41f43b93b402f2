/// The referrer dimension of a click: the host of the `Referer` header, lower-cased, without a
/// leading `www.` or a port; `direct` without the header and `invalid` when it names no host
/// (not an absolute http(s) URL, or a host that is no DNS name or IP address).
enum ReferrerHost {
    static let direct = "direct"
    static let invalid = "invalid"

    static func of(_ referer: String?) -> String {
        guard let referer, !referer.isEmpty else { return direct }
        let text = referer.lowercased()
        let rest: Substring
        if text.hasPrefix("https://") {
            rest = text.dropFirst(8)
        } else if text.hasPrefix("http://") {
            rest = text.dropFirst(7)
        } else {
            return invalid
        }
        var authority = rest.prefix { $0 != "/" && $0 != "?" && $0 != "#" }
        if let at = authority.lastIndex(of: "@") { authority = authority[authority.index(after: at)...] }
        var host: Substring
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else { return invalid }
            host = authority[...close]
        } else {
            host = authority.prefix { $0 != ":" }
        }
        if host.hasPrefix("www.") { host = host.dropFirst(4) }
        while host.hasSuffix(".") { host = host.dropLast() }
        let allowed = host.utf8.allSatisfy { byte in
            (byte >= 0x61 && byte <= 0x7A) || (byte >= 0x30 && byte <= 0x39) || byte == 0x2D || byte == 0x2E
                || byte == 0x3A || byte == 0x5B || byte == 0x5D
        }
        guard !host.isEmpty, host.utf8.count <= 253, allowed else { return invalid }
        return String(host)
    }
}
