import NIOCore

/// The Redis wire protocol (RESP2): commands out, replies in.
public enum RESP {
    /// A command as RESP writes it: an array of bulk strings with explicit lengths (binary-safe),
    /// e.g. `["GET", "key"]`; given in parts (`["EVALSHA", sha, "1"], keys, arguments`), written as one.
    public static func encode(_ parts: [String]..., into buffer: inout ByteBuffer) {
        var count = 0
        var bytes = 0
        for part in parts {
            count += part.count
            for argument in part { bytes += argument.utf8.count }
        }
        buffer.reserveCapacity(minimumWritableBytes: bytes + 16 * (count + 1))
        writeHeader(UInt8(ascii: "*"), count, into: &buffer)
        for part in parts {
            for argument in part {
                writeHeader(UInt8(ascii: "$"), argument.utf8.count, into: &buffer)
                buffer.writeString(argument)
                buffer.writeStaticString("\r\n")
            }
        }
    }

    /// `*3\r\n`, `$5\r\n`: a marker and a count, written without making a string.
    private static func writeHeader(_ marker: UInt8, _ count: Int, into buffer: inout ByteBuffer) {
        buffer.writeInteger(marker)
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)  // room for any Int's 20 digits
        withUnsafeMutableBytes(of: &digits) { room in
            var start = room.endIndex
            var rest = count.magnitude
            repeat {
                start -= 1
                room[start] = UInt8(ascii: "0") + UInt8(rest % 10)
                rest /= 10
            } while rest > 0
            buffer.writeBytes(UnsafeRawBufferPointer(rebasing: room[start...]))
        }
        buffer.writeStaticString("\r\n")
    }

    /// Reads one whole reply from the front of `buffer`; `nil`, with `buffer` untouched, when
    /// the reply has not fully arrived yet.
    public static func parse(_ buffer: inout ByteBuffer) throws(RESPError) -> RedisValue? {
        var cursor = buffer
        guard let value = try parseValue(&cursor) else { return nil }
        buffer = cursor
        return value
    }

    private static func parseValue(_ buffer: inout ByteBuffer) throws(RESPError) -> RedisValue? {
        guard let marker = buffer.readInteger(as: UInt8.self), let line = readLine(&buffer) else { return nil }
        switch marker {
        case UInt8(ascii: "+"):
            return .status(String(decoding: line, as: UTF8.self))
        case UInt8(ascii: "-"):
            return .error(String(decoding: line, as: UTF8.self))
        case UInt8(ascii: ":"):
            return .integer(try number(line))
        case UInt8(ascii: "$"):
            let length = try number(line)
            guard length >= 0 else { return .null }
            guard buffer.readableBytes >= Int(length) + 2, let bytes = buffer.readBytes(length: Int(length)) else {
                return nil
            }
            buffer.moveReaderIndex(forwardBy: 2)
            return .bulk(bytes)
        case UInt8(ascii: "*"):
            let count = try number(line)
            guard count >= 0 else { return .null }
            var elements: [RedisValue] = []
            elements.reserveCapacity(Int(count))
            for _ in 0..<count {
                guard let element = try parseValue(&buffer) else { return nil }
                elements.append(element)
            }
            return .array(elements)
        default:
            throw RESPError("unexpected reply type byte \(marker)")
        }
    }

    /// The bytes before the next CRLF, consumed with it; `nil` if no whole line is there yet.
    private static func readLine(_ buffer: inout ByteBuffer) -> ByteBufferView? {
        let view = buffer.readableBytesView
        guard let end = view.firstIndex(of: UInt8(ascii: "\r")), end + 1 < view.endIndex else { return nil }
        let line = view[view.startIndex..<end]
        buffer.moveReaderIndex(forwardBy: end - view.startIndex + 2)
        return line
    }

    private static func number(_ digits: ByteBufferView) throws(RESPError) -> Int64 {
        var magnitude: Int64 = 0
        var isNegative = false
        for (position, byte) in zip(0..., digits) {
            if position == 0, byte == UInt8(ascii: "-") {
                isNegative = true
            } else if (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte), position < 19 {
                magnitude = magnitude * 10 + Int64(byte - UInt8(ascii: "0"))
            } else {
                throw RESPError("not a number: \(String(decoding: digits, as: UTF8.self))")
            }
        }
        guard digits.count > (isNegative ? 1 : 0) else { throw RESPError("an empty number") }
        return isNegative ? -magnitude : magnitude
    }
}

/// Redis sent something that is not RESP: the connection cannot be trusted any more.
public struct RESPError: Error, CustomStringConvertible, Sendable {
    public let description: String
    init(_ description: String) { self.description = description }
}

/// Turns the bytes Redis sends into replies, for a channel pipeline.
struct RESPReplyDecoder: NIOSingleStepByteToMessageDecoder {
    typealias InboundOut = RedisValue

    mutating func decode(buffer: inout ByteBuffer) throws -> RedisValue? {
        try RESP.parse(&buffer)
    }

    mutating func decodeLast(buffer: inout ByteBuffer, seenEOF: Bool) throws -> RedisValue? {
        try decode(buffer: &buffer)
    }
}
