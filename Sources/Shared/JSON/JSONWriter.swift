import Foundation

/// The few pieces of JSON the hand-written encoders need (events, and the master's answer to a
/// create), written as Foundation's encoder writes them with the project's style
/// (``Foundation/JSONEncoder/project``): keys in the order given (callers give them sorted),
/// strings escaped alike, plain slashes.
public struct JSONWriter {
    /// The JSON written so far.
    public private(set) var bytes: [UInt8] = []
    private var needsComma = false

    public init() { bytes.reserveCapacity(512) }

    /// `{`: an object begins.
    public mutating func open() {
        bytes.append(UInt8(ascii: "{"))
        needsComma = false
    }

    /// `}`: the object ends.
    public mutating func close() {
        bytes.append(UInt8(ascii: "}"))
        needsComma = true
    }

    /// `"name":`, after a comma when a member came before.
    public mutating func key(_ name: String) {
        if needsComma { bytes.append(UInt8(ascii: ",")) }
        string(name)
        bytes.append(UInt8(ascii: ":"))
        needsComma = false
    }

    /// `"name":` for a field's name, a literal that needs no escape, copied as it is.
    private mutating func key(literal name: StaticString) {
        assert(!name.description.utf8.contains { $0 < 0x20 || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") })
        if needsComma { bytes.append(UInt8(ascii: ",")) }
        bytes.append(UInt8(ascii: "\""))
        append(name)
        append("\":")
        needsComma = false
    }

    /// `text` as a JSON string: the runs that need no escape copied whole (every visit event
    /// is written here).
    public mutating func string(_ text: String) {
        bytes.append(UInt8(ascii: "\""))
        var text = text
        text.withUTF8 { utf8 in
            var start = 0
            for (index, byte) in utf8.enumerated()
            where byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") {
                bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[start..<index]))
                escape(byte)
                start = index + 1
            }
            bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[start...]))
        }
        bytes.append(UInt8(ascii: "\""))
        needsComma = true
    }

    /// A byte that JSON escapes, escaped as Foundation's encoder escapes it.
    private mutating func escape(_ byte: UInt8) {
        switch byte {
        case 0x0A: bytes += [UInt8(ascii: "\\"), UInt8(ascii: "n")]
        case 0x0D: bytes += [UInt8(ascii: "\\"), UInt8(ascii: "r")]
        case 0x09: bytes += [UInt8(ascii: "\\"), UInt8(ascii: "t")]
        case 0x08: bytes += [UInt8(ascii: "\\"), UInt8(ascii: "b")]
        case 0x0C: bytes += [UInt8(ascii: "\\"), UInt8(ascii: "f")]
        case 0..<0x20: bytes += Array(String(format: "\\u%04x", byte).utf8)
        default: bytes += [UInt8(ascii: "\\"), byte]
        }
    }

    /// `"name":"text"`, or nothing when `text` is nil (as the encoder leaves out a nil).
    public mutating func field(_ name: StaticString, _ text: String?) {
        guard let text else { return }
        key(literal: name)
        string(text)
    }

    /// `"name":value`, or nothing when `value` is nil.
    public mutating func field(_ name: StaticString, _ value: Int64?) {
        guard let value else { return }
        key(literal: name)
        integer(value)
    }

    /// `"name":true|false`, or nothing when `value` is nil.
    public mutating func field(_ name: StaticString, _ value: Bool?) {
        guard let value else { return }
        key(literal: name)
        append(value ? "true" : "false")
        needsComma = true
    }

    /// `"name":` and `json`, JSON text written elsewhere (by the project's encoder), as it is;
    /// nothing when nil.
    public mutating func rawField(_ name: StaticString, _ json: [UInt8]?) {
        guard let json else { return }
        key(literal: name)
        bytes += json
        needsComma = true
    }

    /// `"name":["text",…]`, or nothing when `texts` is nil.
    public mutating func field(_ name: StaticString, _ texts: [String]?) {
        guard let texts else { return }
        key(literal: name)
        bytes.append(UInt8(ascii: "["))
        for (index, text) in texts.enumerated() {
            if index > 0 { bytes.append(UInt8(ascii: ",")) }
            string(text)
        }
        bytes.append(UInt8(ascii: "]"))
        needsComma = true
    }

    /// `"name":"<id>"`, the id as ``Foundation/UUID/text``, written in place.
    public mutating func field(_ name: StaticString, _ id: UUID) {
        key(literal: name)
        bytes.append(UInt8(ascii: "\""))
        let start = bytes.count
        bytes.append(contentsOf: repeatElement(0, count: UUID.textLength))
        bytes.withUnsafeMutableBufferPointer { id.write(into: UnsafeMutableBufferPointer(rebasing: $0[start...])) }
        bytes.append(UInt8(ascii: "\""))
        needsComma = true
    }

    /// `"name":"<instant>"` as ``RFC3339/format(_:)`` writes it, or nothing when nil.
    public mutating func field(_ name: StaticString, _ date: Date?) {
        guard let date else { return }
        key(literal: name)
        bytes.append(UInt8(ascii: "\""))
        RFC3339.append(date, to: &bytes)
        bytes.append(UInt8(ascii: "\""))
        needsComma = true
    }

    /// `value` in decimal, written digit by digit.
    public mutating func integer(_ value: Int64) {
        if value < 0 { bytes.append(UInt8(ascii: "-")) }
        let magnitude = value.magnitude
        var divisor: UInt64 = 1
        while magnitude / divisor >= 10 { divisor *= 10 }
        while divisor > 0 {
            bytes.append(UInt8(ascii: "0") + UInt8(magnitude / divisor % 10))
            divisor /= 10
        }
        needsComma = true
    }

    /// Appends a literal's bytes.
    private mutating func append(_ literal: StaticString) {
        bytes.append(contentsOf: UnsafeBufferPointer(start: literal.utf8Start, count: literal.utf8CodeUnitCount))
    }
}
