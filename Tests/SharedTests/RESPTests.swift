import NIOCore
import Testing
@testable import SharedRedis

/// The Redis wire protocol, as hiredis speaks it for us: commands as Redis reads them, replies
/// however they arrive.
@Suite struct RESPTests {
    /// Every reply `reader` completes after being fed `text`.
    private func replies(_ text: String, reader: HiredisReader = HiredisReader()) throws -> [RedisValue] {
        try reader.feed(ByteBuffer(string: text).readableBytesView)
        var replies: [RedisValue] = []
        while let reply = try reader.nextReply() { replies.append(reply) }
        return replies
    }

    @Test func commandsAreArraysOfBulkStringsWithByteLengths() {
        var buffer = ByteBuffer()
        RESP.encode(["SET", "ключ", ""], into: &buffer)
        #expect(String(buffer: buffer) == "*3\r\n$3\r\nSET\r\n$8\r\nключ\r\n$0\r\n\r\n")
        var raw = ByteBuffer()
        RESP.encode(["\u{0}\r\n"], into: &raw)
        #expect(Array(buffer: raw) == Array("*1\r\n$3\r\n".utf8) + [0x00, 0x0D, 0x0A] + Array("\r\n".utf8))
        var parts = ByteBuffer()
        RESP.encode(["EVALSHA", "abc", "1"], ["k"], ["a", "b"], into: &parts)
        #expect(
            String(buffer: parts) == "*6\r\n$7\r\nEVALSHA\r\n$3\r\nabc\r\n$1\r\n1\r\n$1\r\nk\r\n$1\r\na\r\n$1\r\nb\r\n")
    }

    @Test func everyReplyTypeIsRead() throws {
        let expected: [RedisValue] = [
            .status("OK"), .error("ERR wrong"), .integer(-42), .bulk(Array("he\r\no".utf8)), .null, .null, .array([]),
        ]
        #expect(try replies("+OK\r\n-ERR wrong\r\n:-42\r\n$5\r\nhe\r\no\r\n$-1\r\n*-1\r\n*0\r\n") == expected)
    }

    @Test func nestedArraysKeepTheirShape() throws {
        #expect(
            try replies("*3\r\n$3\r\nurl\r\n:100\r\n*2\r\n$1\r\na\r\n$-1\r\n")
                == [.array([.bulk(Array("url".utf8)), .integer(100), .array([.bulk([97]), .null])])])
    }

    /// A reply split anywhere comes out only once it is whole.
    @Test func aPartialReplyWaitsForTheRest() throws {
        let whole = "*2\r\n$11\r\nhttps://a.b\r\n:7\r\n"
        for cut in 0..<whole.utf8.count {
            let reader = HiredisReader()
            #expect(try replies(String(whole.utf8.prefix(cut))!, reader: reader).isEmpty, "cut at \(cut)")
            #expect(
                try replies(String(whole.utf8.dropFirst(cut))!, reader: reader)
                    == [.array([.bulk(Array("https://a.b".utf8)), .integer(7)])])
        }
    }

    /// A reply type Redis never sends is an error, not a hang. (hiredis 0.14, Debian's, reads
    /// malformed numbers leniently; a connection whose replies never complete is closed by its
    /// answer timeout instead.)
    @Test func garbageIsAnErrorNotAHang() {
        for garbage in ["?what\r\n", "!3\r\nabc\r\n"] {
            #expect(throws: RESPError.self, "\(garbage)") { try replies(garbage) }
        }
    }
}
