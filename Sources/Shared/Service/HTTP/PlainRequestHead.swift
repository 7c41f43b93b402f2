import HTTPTypes
import NIOCore

/// The head of a plain `GET` read straight from the connection's bytes, for the fast path: an
/// HTTP/1.1 request line with an origin-form target, header fields of token names and
/// printable ASCII values, one `Host`, and nothing that announces a body, an upgrade or an
/// expectation. Anything else, or anything unusual about the bytes (a bare LF, a folded line,
/// a control character, a non-ASCII byte), is not read here: it goes to the HTTP decoder,
/// which answers it as it would without the fast path.
enum PlainRequestHead {
    /// What the bytes at the start of a buffer are.
    enum Reading: Equatable {
        /// A plain `GET`: the request as the HTTP codec would pass it on, the bytes its head
        /// takes, and whether it asks to close the connection after its answer.
        case request(HTTPRequest, length: Int, closes: Bool)
        /// The head has not fully arrived (and is still within ``maximumLength``).
        case incomplete
        /// Not a plain `GET`, or longer than ``maximumLength``: for the HTTP decoder.
        case other
    }

    /// Longest head read here; a longer one goes to the HTTP decoder and its limits.
    static let maximumLength = 16 * 1024
    /// Most header fields read here.
    static let maximumFields = 64

    /// Reads the request head at the start of `bytes`.
    static func read(_ bytes: ByteBuffer) -> Reading {
        bytes.withUnsafeReadableBytes {
            read(UnsafeBufferPointer(start: $0.baseAddress?.assumingMemoryBound(to: UInt8.self), count: $0.count))
        }
    }

    private static func read(_ bytes: UnsafeBufferPointer<UInt8>) -> Reading {
        let prefix = Array("GET /".utf8)
        // As soon as the bytes there are cannot start a plain GET, there is no need to wait for more.
        guard bytes.prefix(prefix.count).elementsEqual(prefix.prefix(min(bytes.count, prefix.count))) else {
            return .other
        }
        let end: Int
        switch headEnd(in: bytes) {
        case .found(let length) where length <= maximumLength: end = length
        case .missing where bytes.count <= maximumLength: return .incomplete
        default: return .other
        }
        var lines = Lines(bytes: bytes, end: end)
        guard let requestLine = lines.next(), let target = target(of: requestLine, in: bytes) else { return .other }
        var fields = HTTPFields()
        var host: String?
        var closes = false
        var count = 0
        while let line = lines.next() {
            count += 1
            guard count <= maximumFields, let (name, value) = field(line, in: bytes) else { return .other }
            switch name {
            case .hostField:
                guard host == nil else { return .other }
                host = value
                continue
            case .contentLength, .transferEncoding, .expect, .upgrade, .http2Settings:
                return .other
            case .connection:
                for token in value.split(separator: ",") {
                    switch token.trimmed(by: [0x20, 0x09]).lowercased() {
                    case "close": closes = true
                    case "keep-alive", "": break
                    default: return .other
                    }
                }
            default:
                break
            }
            fields.append(HTTPField(name: name, value: value))
        }
        guard let host else { return .other }
        let request = HTTPRequest(method: .get, scheme: "http", authority: host, path: target, headerFields: fields)
        return .request(request, length: end, closes: closes)
    }

    private enum HeadEnd {
        /// The head's length through its blank line.
        case found(Int)
        /// Not arrived yet.
        case missing
        /// A line ends in a bare LF.
        case bareLineFeed
    }

    private static func headEnd(in bytes: UnsafeBufferPointer<UInt8>) -> HeadEnd {
        for index in bytes.indices where bytes[index] == 0x0A {
            guard index >= 1, bytes[index - 1] == 0x0D else { return .bareLineFeed }
            if index >= 3, bytes[index - 2] == 0x0A, bytes[index - 3] == 0x0D { return .found(index + 1) }
        }
        return .missing
    }

    /// The target of `GET <target> HTTP/1.1`: `/` then printable ASCII without spaces.
    private static func target(of line: Range<Int>, in bytes: UnsafeBufferPointer<UInt8>) -> String? {
        let version = Array(" HTTP/1.1".utf8)
        let start = line.lowerBound + 4
        let end = line.upperBound - version.count
        guard end > start, bytes[end..<line.upperBound].elementsEqual(version),
            bytes[start..<end].allSatisfy({ $0 > 0x20 && $0 < 0x7F })
        else { return nil }
        return String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<end]), as: UTF8.self)
    }

    /// `name: value` with a token for a name and printable ASCII (and tabs) for a value, the
    /// value's surrounding spaces and tabs left out.
    private static func field(_ line: Range<Int>, in bytes: UnsafeBufferPointer<UInt8>) -> (HTTPField.Name, String)? {
        guard let colon = bytes[line].firstIndex(of: UInt8(ascii: ":")), colon > line.lowerBound,
            bytes[line.lowerBound..<colon].allSatisfy(isTokenByte),
            bytes[(colon + 1)..<line.upperBound].allSatisfy({ ($0 >= 0x20 && $0 < 0x7F) || $0 == 0x09 })
        else { return nil }
        let value = bytes[(colon + 1)..<line.upperBound].trimmed(by: [0x20, 0x09])
        guard
            let name = HTTPField.Name(
                String(decoding: UnsafeBufferPointer(rebasing: bytes[line.lowerBound..<colon]), as: UTF8.self))
        else { return nil }
        return (name, String(decoding: value, as: UTF8.self))
    }

    /// A `tchar` of RFC 9110.
    private static func isTokenByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"):
            true
        default:
            "!#$%&'*+-.^_`|~".utf8.contains(byte)
        }
    }

    /// The lines of a head (without their CRLF), up to its blank line.
    private struct Lines {
        let bytes: UnsafeBufferPointer<UInt8>
        let end: Int
        var position = 0

        init(bytes: UnsafeBufferPointer<UInt8>, end: Int) {
            self.bytes = bytes
            self.end = end
        }

        mutating func next() -> Range<Int>? {
            guard position < end - 2 else { return nil }
            var index = position
            while bytes[index] != 0x0A { index += 1 }
            defer { position = index + 1 }
            return position..<(index - 1)
        }
    }
}

extension Collection where Element == UInt8 {
    /// Without the leading and trailing bytes that are in `set`.
    fileprivate func trimmed(by set: [UInt8]) -> SubSequence {
        guard let first = firstIndex(where: { !set.contains($0) }) else { return self[endIndex...] }
        var last = first
        var index = first
        while index != endIndex {
            if !set.contains(self[index]) { last = index }
            index = self.index(after: index)
        }
        return self[first...last]
    }
}

extension Substring {
    fileprivate func trimmed(by set: [UInt8]) -> String {
        String(decoding: utf8.trimmed(by: set), as: UTF8.self)
    }
}

extension HTTPField.Name {
    fileprivate static let http2Settings = HTTPField.Name("HTTP2-Settings")!
    /// `Host`, which the HTTP codec makes the request's authority.
    fileprivate static let hostField = HTTPField.Name("Host")!
}
