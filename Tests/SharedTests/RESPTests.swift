import NIOCore
import Testing
@testable import SharedRedis

/// The Redis wire protocol: commands as Redis reads them, replies however they arrive.
@Suite struct RESPTests {
    private func bytes(_ text: String) -> ByteBuffer { ByteBuffer(string: text) }

    @Test func commandsAreArraysOfBulkStringsWithByteLengths() {
        var buffer = ByteBuffer()
        RESP.encode(["SET", "ключ", ""], into: &buffer)
        #expect(String(buffer: buffer) == "*3\r\n$3\r\nSET\r\n$8\r\nключ\r\n$0\r\n\r\n")
        var raw = ByteBuffer()
        RESP.encode(["\u{0}\r\n"], into: &raw)
        #expect(Array(buffer: raw) == Array("*1\r\n$3\r\n".utf8) + [0x00, 0x0D, 0x0A] + Array("\r\n".utf8))
    }

    @Test func everyReplyTypeIsRead() throws {
        var buffer = bytes("+OK\r\n-ERR wrong\r\n:-42\r\n$5\r\nhe\r\no\r\n$-1\r\n*-1\r\n*0\r\n")
        let expected: [RedisValue] = [
            .status("OK"), .error("ERR wrong"), .integer(-42), .bulk(Array("he\r\no".utf8)), .null, .null, .array([]),
        ]
        for value in expected { #expect(try RESP.parse(&buffer) == value) }
        #expect(buffer.readableBytes == 0)
    }

    @Test func nestedArraysKeepTheirShape() throws {
        var buffer = bytes("*3\r\n$3\r\nurl\r\n:100\r\n*2\r\n$1\r\na\r\n$-1\r\n")
        #expect(
            try RESP.parse(&buffer) == .array([.bulk(Array("url".utf8)), .integer(100), .array([.bulk([97]), .null])]))
    }

    /// A reply split anywhere is read only once it is whole, and nothing is consumed before.
    @Test func aPartialReplyWaitsForTheRest() throws {
        let whole = "*2\r\n$11\r\nhttps://a.b\r\n:7\r\n"
        for cut in 0..<whole.utf8.count {
            var buffer = bytes(String(whole.utf8.prefix(cut))!)
            #expect(try RESP.parse(&buffer) == nil, "cut at \(cut)")
            #expect(buffer.readableBytes == cut)
            buffer.writeString(String(whole.utf8.dropFirst(cut))!)
            #expect(try RESP.parse(&buffer) == .array([.bulk(Array("https://a.b".utf8)), .integer(7)]))
        }
    }

    @Test func garbageIsAnErrorNotAHang() {
        for garbage in ["?what\r\n", ":12x\r\n", "$\r\n", ":-\r\n"] {
            var buffer = bytes(garbage)
            #expect(throws: RESPError.self, "\(garbage)") { try RESP.parse(&buffer) }
        }
    }
}
