import Foundation

/// A link's target in the one form that is stored, published and sent in `Location`: an
/// absolute `http`/`https` URI of ASCII only. The scheme and host are lower-cased, a Unicode
/// host becomes IDNA (`xn--…` labels), and every byte that a URI may not carry raw (non-ASCII
/// text in the path, query or fragment, `"`, `<`, `|`, a `%` that starts no escape, …) is
/// percent-encoded. A host that is no DNS name or IP literal, or a port outside 1-65535, is
/// rejected.
public enum TargetURL {
    /// Longest host name accepted (DNS: 253 characters, 63 per label).
    public static let maximumHostLength = 253
    private static let maximumLabelLength = 63

    /// Why a text is not an acceptable target: a fixed `code` for clients and a `message`
    /// naming the problem (the master answers both in its `400`).
    public struct Problem: Error, Equatable, Sendable {
        /// `invalid_url` or `unsupported_scheme`.
        public let code: String
        /// What is wrong, for people.
        public let message: String
    }

    /// The normalised form of `text` (already trimmed, with no whitespace or control
    /// characters), or the ``Problem`` that names what is wrong.
    public static func normalized(_ text: String) throws(TargetURL.Problem) -> String {
        guard let schemeEnd = text.firstIndex(of: ":") else { throw invalid("is not an absolute URL") }
        let scheme = text[..<schemeEnd].lowercased()
        guard let first = scheme.utf8.first, isASCIILetter(first),
            scheme.utf8.allSatisfy({ isASCIILetter($0) || isDigit($0) || $0 == 0x2B || $0 == 0x2D || $0 == 0x2E })
        else { throw invalid("is not an absolute URL") }
        guard scheme == "http" || scheme == "https" else {
            throw Problem(code: "unsupported_scheme", message: "'url' must use http or https, not '\(scheme)'")
        }
        let afterScheme = text[text.index(after: schemeEnd)...]
        guard afterScheme.hasPrefix("//") else { throw invalid("has no host") }
        let rest = afterScheme.dropFirst(2)
        let authorityEnd = rest.firstIndex(where: { $0 == "/" || $0 == "?" || $0 == "#" }) ?? rest.endIndex
        let authority = rest[..<authorityEnd]
        let tail = rest[authorityEnd...]

        var hostAndPort = authority[...]
        var userInfo = ""
        if let at = authority.lastIndex(of: "@") {
            userInfo = encoded(authority[..<at], allowing: userInfoBytes) + "@"
            hostAndPort = authority[authority.index(after: at)...]
        }
        let (host, port) = try hostAndPortParts(hostAndPort)
        let normalized = "\(scheme)://\(userInfo)\(host)\(port.map { ":\($0)" } ?? "")" + encodedTail(tail)
        return normalized
    }

    /// Splits `host[:port]` and normalises both.
    private static func hostAndPortParts(_ text: Substring) throws(TargetURL.Problem) -> (String, Int?) {
        var hostText = text
        var portText: Substring?
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { throw invalid("has an unterminated IPv6 address") }
            hostText = text[...close]
            let after = text[text.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":") else { throw invalid("has a malformed host") }
                portText = after.dropFirst()
            }
        } else if let colon = text.lastIndex(of: ":") {
            hostText = text[..<colon]
            portText = text[text.index(after: colon)...]
        }
        var port: Int?
        if let portText, !portText.isEmpty {
            guard portText.utf8.count <= 5, portText.utf8.allSatisfy(isDigit), let value = Int(portText),
                (1...65535).contains(value)
            else { throw invalid("has a port outside 1-65535") }
            port = value
        }
        return (try normalizedHost(hostText), port)
    }

    /// An IP literal as written, or a DNS name lower-cased and IDNA-encoded.
    static func normalizedHost(_ text: Substring) throws(TargetURL.Problem) -> String {
        guard !text.isEmpty else { throw invalid("has no host") }
        if text.hasPrefix("[") {
            let address = String(text.dropFirst().dropLast()).lowercased()
            var bytes = in6_addr()
            guard inet_pton(AF_INET6, address, &bytes) == 1 else { throw invalid("has a malformed IPv6 address") }
            return "[\(address)]"
        }
        let lowered = text.lowercased()
        let name = lowered.utf8.allSatisfy { $0 < 0x80 } ? lowered : lowered.precomposedStringWithCanonicalMapping
        var labels = name.split(separator: ".", omittingEmptySubsequences: false)
        if labels.count > 1, labels.last?.isEmpty == true { labels.removeLast() }  // a root dot
        var encodedLabels: [String] = []
        for label in labels {
            guard !label.isEmpty else { throw invalid("has an empty label in its host") }
            let ascii: String
            if label.utf8.allSatisfy({ $0 < 0x80 }) {
                ascii = String(label)
            } else {
                // Checked before encoding: no longer label can fit 63 bytes, and encoding is quadratic.
                guard label.unicodeScalars.count <= maximumLabelLength, label.unicodeScalars.allSatisfy(isHostScalar),
                    let puny = Punycode.encode(String(label))
                else {
                    throw invalid("has a host that is not a valid domain name")
                }
                ascii = "xn--" + puny
            }
            guard ascii.utf8.count <= maximumLabelLength,
                ascii.utf8.allSatisfy({ isASCIILetter($0) || isDigit($0) || $0 == 0x2D || $0 == 0x5F })
            else { throw invalid("has a host that is not a valid domain name") }
            encodedLabels.append(ascii)
        }
        let host = encodedLabels.joined(separator: ".")
        guard host.utf8.count <= maximumHostLength else { throw invalid("has a host longer than 253 characters") }
        return host
    }

    /// Path, query and fragment with every byte a URI may not carry raw percent-encoded.
    private static func encodedTail(_ tail: Substring) -> String {
        guard let hash = tail.firstIndex(of: "#") else { return encoded(tail, allowing: pathAndQueryBytes) }
        return encoded(tail[..<hash], allowing: pathAndQueryBytes) + "#"
            + encoded(tail[tail.index(after: hash)...], allowing: pathAndQueryBytes)
    }

    /// `text` with every byte outside `allowed` (and every `%` that starts no escape) as `%XX`.
    static func encoded(_ text: Substring, allowing allowed: (UInt8) -> Bool) -> String {
        if text.utf8.allSatisfy({ $0 != 0x25 && allowed($0) }) { return String(text) }  // nearly every URL
        let bytes = Array(text.utf8)
        var output: [UInt8] = []
        output.reserveCapacity(bytes.count)
        for (index, byte) in bytes.enumerated() {
            if byte == 0x25, index + 2 < bytes.count, isHexDigit(bytes[index + 1]), isHexDigit(bytes[index + 2]) {
                output.append(byte)
            } else if byte != 0x25, allowed(byte) {
                output.append(byte)
            } else {
                output.append(0x25)
                output.append(hexDigits[Int(byte >> 4)])
                output.append(hexDigits[Int(byte & 0x0F)])
            }
        }
        return String(decoding: output, as: UTF8.self)
    }

    private static let hexDigits = Array("0123456789ABCDEF".utf8)

    /// RFC 3986 `pchar`, `/` and `?`: unreserved, sub-delims, `:` and `@`.
    static func pathAndQueryBytes(_ byte: UInt8) -> Bool {
        userInfoBytes(byte) || byte == 0x40 || byte == 0x2F || byte == 0x3F
    }

    /// RFC 3986 `userinfo`: unreserved, sub-delims and `:`.
    private static func userInfoBytes(_ byte: UInt8) -> Bool {
        switch byte {
        // ! $ &'()*+,-. 0-9:; = A-Z _ a-z ~
        case 0x21, 0x24, 0x26...0x2E, 0x30...0x3B, 0x3D, 0x41...0x5A, 0x5F, 0x61...0x7A, 0x7E: true
        default: false
        }
    }

    /// A character a Unicode host label may hold: letters, marks and digits.
    private static func isHostScalar(_ scalar: Unicode.Scalar) -> Bool {
        if scalar.isASCII { return isASCIILetter(UInt8(scalar.value)) || isDigit(UInt8(scalar.value)) || scalar == "-" }
        switch scalar.properties.generalCategory {
        case .lowercaseLetter, .uppercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter,
            .nonspacingMark, .spacingMark, .enclosingMark, .decimalNumber, .letterNumber, .otherNumber:
            return true
        default:
            return false
        }
    }

    private static func isASCIILetter(_ byte: UInt8) -> Bool { (byte | 0x20) >= 0x61 && (byte | 0x20) <= 0x7A }
    private static func isDigit(_ byte: UInt8) -> Bool { byte >= 0x30 && byte <= 0x39 }
    static func isHexDigit(_ byte: UInt8) -> Bool {
        isDigit(byte) || ((byte | 0x20) >= 0x61 && (byte | 0x20) <= 0x66)
    }

    private static func invalid(_ problem: String) -> Problem {
        Problem(code: "invalid_url", message: "'url' \(problem)")
    }
}
