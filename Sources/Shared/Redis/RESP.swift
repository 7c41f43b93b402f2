import NIOCore

/// The Redis wire protocol (RESP2), spoken by hiredis: commands out (`redisFormatCommandArgv`),
/// replies in (`redisReader`).
public enum RESP {
    /// A command as RESP writes it: an array of bulk strings with explicit lengths (binary-safe),
    /// e.g. `["GET", "key"]`; given in parts (`["EVALSHA", sha, "1"], keys, arguments`), written as one.
    public static func encode(_ parts: [String]..., into buffer: inout ByteBuffer) {
        HiredisCommand.encode(parts, into: &buffer)
    }
}

/// Redis sent something that is not RESP: the connection cannot be trusted any more.
public struct RESPError: Error, CustomStringConvertible, Sendable {
    public let description: String
    init(_ description: String) { self.description = description }
}

/// Turns the bytes Redis sends into replies, for a channel pipeline: each read is handed to the
/// connection's hiredis reader, and every reply it completes goes on up.
final class RESPReplyDecoder: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = RedisValue

    private let reader = HiredisReader()

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let bytes = unwrapInboundIn(data)
        do {
            try reader.feed(bytes.readableBytesView)
            while let reply = try reader.nextReply() { context.fireChannelRead(wrapInboundOut(reply)) }
        } catch {
            context.fireErrorCaught(error)
        }
    }
}
