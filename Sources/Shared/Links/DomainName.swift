/// Short domains: the host names links are served under (`acme.link`, `go.acme.com`).
public enum DomainName {
    /// Why a text is no acceptable domain (the master answers `400 invalid_domain`).
    public struct Problem: Error, Equatable, Sendable {
        /// What is wrong, for people.
        public let message: String
    }

    /// The stored form of `text`: a DNS name (no IP literal, no port, no trailing dot) of
    /// letters, digits and hyphens, lower-cased, a Unicode name IDNA-encoded the way targets'
    /// hosts are (`bücher.example` → `xn--bcher-kva.example`), at most 253 characters.
    public static func normalized(_ text: String) throws(Problem) -> String {
        guard !text.isEmpty, text.utf8.count <= 1024 else { throw Problem(message: "'domain' is empty or too long") }
        guard !text.utf8.contains(where: { $0 <= 0x20 || $0 == 0x7F || $0 == 0x3A || $0 == 0x2F || $0 == 0x5B }),
            !text.hasSuffix(".")
        else {
            throw Problem(message: "'domain' must be a bare host name: no scheme, port, path, space or final dot")
        }
        let host: String
        do {
            host = try TargetURL.normalizedHost(Substring(text))
        } catch {
            throw Problem(message: "'domain' is not a valid host name")
        }
        guard host.utf8.allSatisfy({ $0 != 0x5F }) else { throw Problem(message: "'domain' may not hold '_'") }
        guard host.utf8.contains(where: { ($0 | 0x20) >= 0x61 && ($0 | 0x20) <= 0x7A }) || host.hasPrefix("xn--") else {
            throw Problem(message: "'domain' must be a name, not an IP address")
        }
        for label in host.split(separator: ".") where label.hasPrefix("-") || label.hasSuffix("-") {
            throw Problem(message: "'domain' has a label that starts or ends with '-'")
        }
        return host
    }

    /// The host a request's `Host` header names, as domains are stored: without the port or a
    /// final dot, lower-cased; `nil` for a header that is absent, empty, not ASCII or longer
    /// than a host name. Cheap enough for every redirect.
    public static func host(ofHeader header: String?) -> String? {
        guard var bytes = header?.utf8[...], !bytes.isEmpty, bytes.count <= 260 else { return nil }
        if bytes.first == 0x5B {  // an IPv6 literal: never a domain
            return nil
        }
        if let colon = bytes.firstIndex(of: 0x3A) { bytes = bytes[..<colon] }
        if bytes.last == 0x2E { bytes = bytes.dropLast() }
        guard !bytes.isEmpty, bytes.count <= TargetURL.maximumHostLength,
            bytes.allSatisfy({ $0 > 0x20 && $0 < 0x7F })
        else { return nil }
        if let header, bytes.count == header.utf8.count, !bytes.contains(where: { $0 >= 0x41 && $0 <= 0x5A }) {
            return header  // already a bare lower-case host: no copy
        }
        return String(decoding: bytes.map { $0 >= 0x41 && $0 <= 0x5A ? $0 | 0x20 : $0 }, as: UTF8.self)
    }
}
