/// A strict reader of JSON text, one value at a time, for the hand-written decoders of events
/// (the event codecs'): the reading side of ``JSONWriter``.
///
/// It reads RFC 8259 and nothing more: no trailing commas, no byte-order mark, no leading zeros,
/// strings of valid UTF-8 without raw control characters, escapes checked even in values no one
/// reads, and nesting at most ``maximumDepth`` deep. Integers are read as `Int64` and only when
/// written as integers. Foundation's decoder accepts more (`1.0` for an integer, a trailing
/// comma, a bad escape in an ignored member), so whatever this reader accepts, it accepts too.
public struct JSONReader {
    /// Why the text is not the JSON expected, with the byte offset where that was found.
    public struct SyntaxError: Error, CustomStringConvertible {
        /// Bytes from the start of the text to the problem.
        public let offset: Int
        /// What was wrong there.
        public let reason: String

        public var description: String { "\(reason) at byte \(offset)" }
    }

    /// The kind of the value that comes next.
    public enum Kind: Sendable {
        case object, array, string, number, bool, null
    }

    /// How deeply arrays and objects may nest: deeper text is refused, not recursed into.
    public static let maximumDepth = 32

    private let bytes: [UInt8]
    private var offset = 0
    private var depth = 0

    /// A reader at the start of `bytes`.
    public init(_ bytes: [UInt8]) { self.bytes = bytes }

    /// The kind of the next value, read from its first byte (whitespace before it is skipped).
    public mutating func nextKind() throws(SyntaxError) -> Kind {
        switch try peek() {
        case UInt8(ascii: "{"): .object
        case UInt8(ascii: "["): .array
        case UInt8(ascii: "\""): .string
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): .number
        case UInt8(ascii: "t"), UInt8(ascii: "f"): .bool
        case UInt8(ascii: "n"): .null
        default: throw failure("a value was expected")
        }
    }

    /// Reads an object, calling `member` with each key; `member` must read (or skip) its value.
    public mutating func readObject(_ member: (inout JSONReader, String) throws -> Void) throws {
        try readSequence(from: UInt8(ascii: "{"), to: UInt8(ascii: "}")) { reader in
            guard try reader.peek() == UInt8(ascii: "\"") else { throw reader.failure("a key was expected") }
            let key = try reader.readString()
            try reader.expect(UInt8(ascii: ":"))
            try member(&reader, key)
        }
    }

    /// Reads an array, calling `element` for each element; `element` must read (or skip) it.
    public mutating func readArray(_ element: (inout JSONReader) throws -> Void) throws {
        try readSequence(from: UInt8(ascii: "["), to: UInt8(ascii: "]"), element)
    }

    /// The items of an object or an array between `open` and `close`, separated by commas.
    private mutating func readSequence(
        from open: UInt8, to close: UInt8, _ item: (inout JSONReader) throws -> Void
    ) throws {
        try expect(open)
        guard depth < Self.maximumDepth else { throw failure("nested more than \(Self.maximumDepth) deep") }
        depth += 1
        defer { depth -= 1 }
        if try peek() == close {
            offset += 1
            return
        }
        while true {
            try item(&self)
            let next = try peek()
            guard next == close || next == UInt8(ascii: ",") else {
                throw failure("',' or '\(Character(Unicode.Scalar(close)))' was expected")
            }
            offset += 1
            if next == close { return }
        }
    }

    /// Reads a string.
    public mutating func readString() throws(SyntaxError) -> String {
        try expect(UInt8(ascii: "\""))
        let start = offset
        while offset < bytes.count {
            let byte = bytes[offset]
            if byte == UInt8(ascii: "\"") {
                defer { offset += 1 }
                return try text(bytes[start..<offset], from: start)
            }
            if byte == UInt8(ascii: "\\") { return try readEscapedString(from: start) }
            guard byte >= 0x20 else { throw failure("a control character in a string") }
            offset += 1
        }
        throw failure("a string does not end")
    }

    /// Reads an integer (no fraction, no exponent) that fits in 64 bits.
    public mutating func readInteger() throws(SyntaxError) -> Int64 {
        _ = try peek()
        let start = offset
        let negative = bytes[offset] == UInt8(ascii: "-")
        if negative { offset += 1 }
        let digits = offset
        var value: Int64 = 0
        while offset < bytes.count, let digit = Self.digit(bytes[offset]) {
            // Negative numbers are summed downwards, so that Int64.min fits too.
            let (shifted, overflowShift) = value.multipliedReportingOverflow(by: 10)
            let (next, overflowAdd) =
                negative
                ? shifted.subtractingReportingOverflow(digit) : shifted.addingReportingOverflow(digit)
            guard !overflowShift && !overflowAdd else {
                offset = start
                throw failure("an integer outside 64 bits")
            }
            value = next
            offset += 1
        }
        guard offset > digits else { throw failure("a digit was expected") }
        guard bytes[digits] != UInt8(ascii: "0") || offset == digits + 1 else {
            offset = digits
            throw failure("a number with a leading zero")
        }
        guard !isNumberContinuation else {
            offset = start
            throw failure("a number that is not an integer")
        }
        return value
    }

    /// Reads `true` or `false`.
    public mutating func readBool() throws(SyntaxError) -> Bool {
        if try peek() == UInt8(ascii: "t") {
            try literal("true")
            return true
        }
        try literal("false")
        return false
    }

    /// Reads `null` if it comes next: whether it did.
    public mutating func readNull() throws(SyntaxError) -> Bool {
        guard try peek() == UInt8(ascii: "n") else { return false }
        try literal("null")
        return true
    }

    /// Reads the next value, whatever it is, checking it as strictly as the rest.
    public mutating func skipValue() throws {
        switch try nextKind() {
        case .object: try readObject { reader, _ in try reader.skipValue() }
        case .array: try readArray { reader in try reader.skipValue() }
        case .string: _ = try readString()
        case .number: try skipNumber()
        case .bool: _ = try readBool()
        case .null: _ = try readNull()
        }
    }

    /// Reads the next value, checked as ``skipValue()`` checks it, and returns its text.
    public mutating func readRawValue() throws -> ArraySlice<UInt8> {
        skipWhitespace()
        let start = offset
        try skipValue()
        return bytes[start..<offset]
    }

    /// Checks that nothing but whitespace follows the value read.
    public mutating func finish() throws(SyntaxError) {
        skipWhitespace()
        guard offset == bytes.count else { throw failure("more text after the value") }
    }

    // MARK: - Pieces

    private mutating func skipWhitespace() {
        while offset < bytes.count {
            switch bytes[offset] {
            case 0x20, 0x0A, 0x0D, 0x09: offset += 1
            default: return
            }
        }
    }

    /// The next byte after whitespace, not consumed.
    private mutating func peek() throws(SyntaxError) -> UInt8 {
        skipWhitespace()
        guard offset < bytes.count else { throw failure("the text ends early") }
        return bytes[offset]
    }

    private mutating func expect(_ byte: UInt8) throws(SyntaxError) {
        guard try peek() == byte else { throw failure("'\(Character(Unicode.Scalar(byte)))' was expected") }
        offset += 1
    }

    private mutating func literal(_ word: StaticString) throws(SyntaxError) {
        let count = word.utf8CodeUnitCount
        guard offset + count <= bytes.count,
            word.withUTF8Buffer({ expected in bytes[offset..<offset + count].elementsEqual(expected) })
        else { throw failure("'\(word)' was expected") }
        offset += count
    }

    private mutating func skipNumber() throws(SyntaxError) {
        if bytes[offset] == UInt8(ascii: "-") { offset += 1 }
        let digits = offset
        try skipDigits()
        guard bytes[digits] != UInt8(ascii: "0") || offset == digits + 1 else {
            offset = digits
            throw failure("a number with a leading zero")
        }
        if offset < bytes.count, bytes[offset] == UInt8(ascii: ".") {
            offset += 1
            try skipDigits()
        }
        if offset < bytes.count, bytes[offset] == UInt8(ascii: "e") || bytes[offset] == UInt8(ascii: "E") {
            offset += 1
            if offset < bytes.count, bytes[offset] == UInt8(ascii: "+") || bytes[offset] == UInt8(ascii: "-") {
                offset += 1
            }
            try skipDigits()
        }
    }

    private mutating func skipDigits() throws(SyntaxError) {
        let start = offset
        while offset < bytes.count, Self.digit(bytes[offset]) != nil { offset += 1 }
        guard offset > start else { throw failure("a digit was expected") }
    }

    /// Whether the byte after an integer or a literal would make it something else (`1.5`, `1e3`, `12`).
    private var isNumberContinuation: Bool {
        guard offset < bytes.count else { return false }
        let byte = bytes[offset]
        return byte == UInt8(ascii: ".") || byte == UInt8(ascii: "e") || byte == UInt8(ascii: "E")
            || Self.digit(byte) != nil
    }

    private static func digit(_ byte: UInt8) -> Int64? {
        (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) ? Int64(byte - UInt8(ascii: "0")) : nil
    }

    /// The rest of a string that has escapes, from its first escape on (`start` is its first byte).
    private mutating func readEscapedString(from start: Int) throws(SyntaxError) -> String {
        var unescaped = Array(bytes[start..<offset])
        while offset < bytes.count {
            let byte = bytes[offset]
            offset += 1
            switch byte {
            case UInt8(ascii: "\""):
                return try text(unescaped[...], from: start)
            case UInt8(ascii: "\\"):
                guard offset < bytes.count else { break }
                let escape = bytes[offset]
                offset += 1
                switch escape {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): unescaped.append(escape)
                case UInt8(ascii: "b"): unescaped.append(0x08)
                case UInt8(ascii: "f"): unescaped.append(0x0C)
                case UInt8(ascii: "n"): unescaped.append(0x0A)
                case UInt8(ascii: "r"): unescaped.append(0x0D)
                case UInt8(ascii: "t"): unescaped.append(0x09)
                case UInt8(ascii: "u"): unescaped.append(contentsOf: String(try readUnicodeEscape()).utf8)
                default:
                    offset -= 2
                    throw failure("an unknown escape in a string")
                }
            case 0..<0x20:
                offset -= 1
                throw failure("a control character in a string")
            default:
                unescaped.append(byte)
            }
        }
        throw failure("a string does not end")
    }

    /// The character of a `\uXXXX` escape (its `\u` read), with the low half of a surrogate pair.
    private mutating func readUnicodeEscape() throws(SyntaxError) -> Character {
        let high = try readHex4()
        let scalar: Unicode.Scalar?
        if (0xD800..<0xDC00).contains(high) {
            guard offset + 1 < bytes.count, bytes[offset] == UInt8(ascii: "\\"), bytes[offset + 1] == UInt8(ascii: "u")
            else { throw failure("an unpaired surrogate in a string") }
            offset += 2
            let low = try readHex4()
            guard (0xDC00..<0xE000).contains(low) else { throw failure("an unpaired surrogate in a string") }
            scalar = Unicode.Scalar(0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00))
        } else {
            scalar = Unicode.Scalar(high)
        }
        guard let scalar else { throw failure("an unpaired surrogate in a string") }
        return Character(scalar)
    }

    private mutating func readHex4() throws(SyntaxError) -> UInt32 {
        guard offset + 4 <= bytes.count else { throw failure("a \\u escape with fewer than 4 hex digits") }
        var value: UInt32 = 0
        for byte in bytes[offset..<offset + 4] {
            let nibble: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): nibble = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): nibble = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): nibble = byte - UInt8(ascii: "A") + 10
            default: throw failure("a \\u escape with fewer than 4 hex digits")
            }
            value = value << 4 | UInt32(nibble)
        }
        offset += 4
        return value
    }

    /// `utf8` as a string, refused unless it is valid UTF-8.
    private func text(_ utf8: some Collection<UInt8>, from start: Int) throws(SyntaxError) -> String {
        guard let text = String(validating: utf8, as: UTF8.self) else {
            throw SyntaxError(offset: start, reason: "a string that is not UTF-8")
        }
        return text
    }

    /// `reason`, at the reader's offset.
    fileprivate func failure(_ reason: String) -> SyntaxError { SyntaxError(offset: offset, reason: reason) }
}

/// Reads the members of one object for a hand-written decoder: each key at most once, a `null`
/// as nil, and a value of another type skipped and noted (the first such), so that the decoder
/// can still tell which event it was before it calls it malformed.
public struct MemberReader {
    public init() {}

    /// The first member whose value was not of the type expected.
    public private(set) var mismatch: String?
    /// The keys read so far (a handful: a linear search is cheaper than hashing them).
    private var seen: [String] = []

    /// The string value of `key`.
    public mutating func string(_ key: String, from reader: inout JSONReader) throws -> String? {
        try value(key, .string, "a string", from: &reader) { reader in try reader.readString() }
    }

    /// The integer value of `key`.
    public mutating func integer(_ key: String, from reader: inout JSONReader) throws -> Int64? {
        try value(key, .number, "an integer", from: &reader) { reader in try reader.readInteger() }
    }

    /// The boolean value of `key`.
    public mutating func bool(_ key: String, from reader: inout JSONReader) throws -> Bool? {
        try value(key, .bool, "a boolean", from: &reader) { reader in try reader.readBool() }
    }

    /// The value of `key`, an array of strings.
    public mutating func strings(_ key: String, from reader: inout JSONReader) throws -> [String]? {
        var mismatched = false
        let strings = try value(key, .array, "an array of strings", from: &reader) { reader in
            var strings: [String] = []
            try reader.readArray { reader in
                if try reader.nextKind() == .string {
                    strings.append(try reader.readString())
                } else {
                    mismatched = true
                    try reader.skipValue()
                }
            }
            return strings
        }
        if mismatched {
            mismatch = mismatch ?? "'\(key)' is not an array of strings"
            return nil
        }
        return strings
    }

    private mutating func value<Value>(
        _ key: String, _ kind: JSONReader.Kind, _ expected: String, from reader: inout JSONReader,
        _ read: (inout JSONReader) throws -> Value
    ) throws -> Value? {
        guard !seen.contains(key) else { throw reader.failure("'\(key)' appears twice") }
        if seen.isEmpty { seen.reserveCapacity(16) }
        seen.append(key)
        if try reader.readNull() { return nil }
        guard try reader.nextKind() == kind else {
            mismatch = mismatch ?? "'\(key)' is not \(expected)"
            try reader.skipValue()
            return nil
        }
        return try read(&reader)
    }
}
