import HTTPTypes
import NIOCore
import Testing

@testable import SharedService

/// What the fast path reads itself from a connection's bytes, and what it leaves to the HTTP
/// decoder: a plain GET is read as the HTTP codec would pass it on; everything unusual is not.
@Suite struct PlainRequestHeadTests {
    private func read(_ text: String) -> PlainRequestHead.Reading {
        PlainRequestHead.read(ByteBuffer(string: text))
    }

    @Test func aPlainGetIsReadAsTheCodecWouldPassItOn() throws {
        let head =
            "GET /abc123?utm=1&x=%20 HTTP/1.1\r\nHost: go.example:8080\r\nUser-Agent:  Mozilla/5.0 (X) \t\r\n"
            + "Cookie: a=1; b=2\r\nX-Forwarded-For: 8.8.8.8, 10.0.0.1\r\nEmpty:\r\nConnection: keep-alive\r\n\r\n"
        guard case .request(let request, let length, let closes) = read(head + "GET /next") else {
            Issue.record("not read: \(read(head))")
            return
        }
        #expect(length == head.utf8.count && !closes)
        #expect(request.method == .get && request.scheme == "http" && request.authority == "go.example:8080")
        #expect(request.path == "/abc123?utm=1&x=%20")
        #expect(request.headerFields[.userAgent] == "Mozilla/5.0 (X)")
        #expect(request.headerFields[.cookie] == "a=1; b=2")
        #expect(request.headerFields[HTTPField.Name("x-forwarded-for")!] == "8.8.8.8, 10.0.0.1")
        #expect(request.headerFields[HTTPField.Name("Empty")!] == "")
        // The codec makes Host the authority and leaves it out of the fields.
        #expect(request.headerFields[HTTPField.Name("Host")!] == nil)
        #expect(request.headerFields.count == 5)
    }

    @Test func connectionCloseIsSeenAmongItsTokens() {
        for value in ["close", "Close", "keep-alive, CLOSE", " close ,"] {
            guard case .request(_, _, let closes) = read("GET / HTTP/1.1\r\nHost: x\r\nConnection: \(value)\r\n\r\n")
            else {
                Issue.record("not read: \(value)")
                continue
            }
            #expect(closes, "\(value)")
        }
    }

    @Test func aHeadNotYetCompleteIsWaitedFor() {
        for part in [
            "", "G", "GET /", "GET /abc HTTP/1.1\r\n", "GET /abc HTTP/1.1\r\nHost: x\r\n",
            "GET / HTTP/1.1\r\nHost: x\r\n\r",
        ] {
            #expect(read(part) == .incomplete, "\(part.debugDescription)")
        }
        #expect(read("GET /" + String(repeating: "a", count: PlainRequestHead.maximumLength)) == .other)
    }

    @Test(arguments: [
        // Other methods, versions, targets.
        "POST /abc HTTP/1.1\r\nHost: x\r\n\r\n", "HEAD /abc HTTP/1.1\r\nHost: x\r\n\r\n",
        "get /abc HTTP/1.1\r\nHost: x\r\n\r\n", "GET /abc HTTP/1.0\r\nHost: x\r\n\r\n",
        "GET /abc HTTP/2.0\r\nHost: x\r\n\r\n", "GET http://x/abc HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET * HTTP/1.1\r\nHost: x\r\n\r\n", "GET /a b HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET /a  HTTP/1.1\r\nHost: x\r\n\r\n", "GET /a\u{7F} HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET /é HTTP/1.1\r\nHost: x\r\n\r\n", "GET /abc HTTP/1.1 \r\nHost: x\r\n\r\n",
        // Framing that is the decoder's to judge: bodies, upgrades, expectations, no or two hosts.
        "GET /abc HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
        "GET /abc HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        "GET /abc HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n\r\n",
        "GET /abc HTTP/1.1\r\nHost: x\r\nUpgrade: h2c\r\nConnection: Upgrade, HTTP2-Settings\r\n\r\n",
        "GET /abc HTTP/1.1\r\nHost: x\r\nHTTP2-Settings: AAA\r\n\r\n", "GET /abc HTTP/1.1\r\n\r\n",
        "GET /abc HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n",
        // Unusual bytes: bare LFs, folded lines, controls, non-ASCII, bad names.
        "GET /abc HTTP/1.1\nHost: x\n\n", "GET /abc HTTP/1.1\r\nHost: x\n\r\n",
        "GET /abc HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n 2\r\n\r\n", "GET /abc HTTP/1.1\r\nHost: x\r\nX-A: 1\u{0}2\r\n\r\n",
        "GET /abc HTTP/1.1\r\nHost: x\r\nX-A: caf\u{E9}\r\n\r\n", "GET /abc HTTP/1.1\r\nHost: x\r\nX A: 1\r\n\r\n",
        "GET /abc HTTP/1.1\r\nHost: x\r\nX-A : 1\r\n\r\n", "GET /abc HTTP/1.1\r\nHost: x\r\n: 1\r\n\r\n",
        "GET /abc HTTP/1.1\r\nHost: x\r\nNoColon\r\n\r\n", "GET /abc HTTP/1.1\r\nHost: x\r\nX-A: 1\r\r\n\r\n",
    ])
    func anythingUnusualIsLeftToTheDecoder(head: String) {
        #expect(read(head) == .other, "\(head.debugDescription)")
    }

    @Test func manyFieldsAreLeftToTheDecoder() {
        let fields = (0...PlainRequestHead.maximumFields).map { "X-\($0): 1\r\n" }.joined()
        #expect(read("GET /abc HTTP/1.1\r\nHost: x\r\n\(fields)\r\n") == .other)
    }

    @Test func aResponseHeadIsWrittenAsHTTP1() {
        var bytes = ByteBuffer()
        bytes.writeResponseHead(
            HTTPResponse(status: .found, headerFields: [.location: "https://e.com/a?b=1", .contentLength: "0"]))
        #expect(
            String(buffer: bytes) == "HTTP/1.1 302 Found\r\nLocation: https://e.com/a?b=1\r\nContent-Length: 0\r\n\r\n")
        // A status made from its code alone gets its usual reason phrase.
        bytes.clear()
        bytes.writeResponseHead(HTTPResponse(status: .init(code: 308)))
        #expect(String(buffer: bytes) == "HTTP/1.1 308 Permanent Redirect\r\n\r\n")
    }
}
