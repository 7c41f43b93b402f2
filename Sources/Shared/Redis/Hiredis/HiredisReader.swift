import CHiredis
import NIOCore

/// hiredis's reply parser (`redisReader`) for one connection: bytes go in as they arrive,
/// whole replies come out as ``RedisValue``s, copied out of hiredis's memory at once.
///
/// Not `Sendable`: a connection's channel handler owns it and uses it on its event loop only.
final class HiredisReader {
    private let reader: UnsafeMutablePointer<redisReader>

    init() {
        // redisReaderCreate only fails when malloc does.
        reader = redisReaderCreate()!
    }

    deinit { redisReaderFree(reader) }

    /// Hands `bytes` to the parser.
    func feed(_ bytes: ByteBufferView) throws(RESPError) {
        let status =
            bytes.withContiguousStorageIfAvailable { storage in
                storage.withMemoryRebound(to: CChar.self) { redisReaderFeed(reader, $0.baseAddress, $0.count) }
            }
            ?? Array(bytes).withUnsafeBufferPointer { storage in
                storage.withMemoryRebound(to: CChar.self) { redisReaderFeed(reader, $0.baseAddress, $0.count) }
            }
        guard status == REDIS_OK else { throw RESPError(errorText) }
    }

    /// The next whole reply, or nil until more bytes arrive. Throws on a protocol error, after
    /// which the connection cannot be trusted.
    func nextReply() throws(RESPError) -> RedisValue? {
        var raw: UnsafeMutableRawPointer?
        guard redisReaderGetReply(reader, &raw) == REDIS_OK else { throw RESPError(errorText) }
        guard let raw else { return nil }
        defer { freeReplyObject(raw) }
        return Self.value(of: raw.assumingMemoryBound(to: redisReply.self).pointee)
    }

    private var errorText: String {
        withUnsafeBytes(of: reader.pointee.errstr) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
    }

    /// The reply as a Swift value (hiredis's nesting is bounded, so the recursion is too).
    private static func value(of reply: redisReply) -> RedisValue {
        switch reply.type {
        case REDIS_REPLY_STRING:
            return .bulk(Array(UnsafeRawBufferPointer(start: reply.str, count: reply.len)))
        case REDIS_REPLY_STATUS:
            return .status(text(of: reply))
        case REDIS_REPLY_ERROR:
            return .error(text(of: reply))
        case REDIS_REPLY_INTEGER:
            return .integer(Int64(reply.integer))
        case REDIS_REPLY_ARRAY:
            return .array((0..<reply.elements).map { value(of: reply.element[$0]!.pointee) })
        default:
            return .null
        }
    }

    private static func text(of reply: redisReply) -> String {
        String(decoding: UnsafeRawBufferPointer(start: reply.str, count: reply.len), as: UTF8.self)
    }
}
