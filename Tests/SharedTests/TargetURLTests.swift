import SharedLinks
import Testing

/// Targets are stored and redirected to as ASCII URIs: IDNA hosts, percent-encoded paths.
@Suite struct TargetURLTests {
    private func problem(_ url: String) -> String? {
        do {
            _ = try TargetURL.normalized(url)
            return nil
        } catch {
            return error.code
        }
    }

    @Test(
        arguments: [
            ("bücher", "bcher-kva"), ("münchen", "mnchen-3ya"), ("exämple", "exmple-cua"),
            ("правда", "80aafi6cg"), ("日本語", "wgv71a119e"), ("ü", "tda"),
        ])
    func encodesPunycodeAsRFC3492Does(label: String, encoded: String) {
        #expect(Punycode.encode(label) == encoded)
    }

    @Test func turnsUnicodeHostsAndPathsIntoASCII() throws {
        #expect(try TargetURL.normalized("https://Exämple.com/ü") == "https://xn--exmple-cua.com/%C3%BC")
        #expect(
            try TargetURL.normalized("http://Bücher.example:8080/a b?q=ü#frag ü")
                == "http://xn--bcher-kva.example:8080/a%20b?q=%C3%BC#frag%20%C3%BC")
        #expect(try TargetURL.normalized("HTTPS://EXAMPLE.COM/Path") == "https://example.com/Path")
        #expect(try TargetURL.normalized("https://example.com/%7e%zz") == "https://example.com/%7e%25zz")
        #expect(try TargetURL.normalized(#"https://e.com/"<>|^`{}\"#) == "https://e.com/%22%3C%3E%7C%5E%60%7B%7D%5C")
        #expect(try TargetURL.normalized("https://e.com/a?x=1&y=/#z?") == "https://e.com/a?x=1&y=/#z?")
        #expect(try TargetURL.normalized("https://e.com/a#b#c") == "https://e.com/a#b%23c")
        #expect(try TargetURL.normalized("http://[::1]:8080/") == "http://[::1]:8080/")
        #expect(try TargetURL.normalized("http://user:pä@e.com") == "http://user:p%C3%A4@e.com")
        #expect(try TargetURL.normalized("http://e.com:/x") == "http://e.com/x")
        #expect(try TargetURL.normalized("http://e.com./x") == "http://e.com/x")
        let normalized = try TargetURL.normalized("https://Exämple.com/\u{10FFFF}?\u{1F600}")
        #expect(normalized.utf8.allSatisfy { $0 > 0x20 && $0 < 0x7F })
    }

    @Test func keepsExactlyRFC3986sPathCharactersRaw() throws {
        let raw = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~!$&'()*+,;=:@/?".utf8)
        for byte in UInt8(0x21)...0x7E where byte != UInt8(ascii: "#") && byte != UInt8(ascii: "%") {
            let character = String(UnicodeScalar(byte))
            let expected = raw.contains(byte) ? character : "%" + String(byte, radix: 16, uppercase: true)
            #expect(try TargetURL.normalized("https://e.com/a" + character) == "https://e.com/a" + expected)
            // The user part keeps the same, but for the bytes that end it or the authority.
            guard !"@/?".utf8.contains(byte) else { continue }
            #expect(try TargetURL.normalized("https://u\(character)@e.com/") == "https://u\(expected)@e.com/")
        }
    }

    @Test(
        arguments: [
            "http://[::1]:99999/", "http://e.com:0/", "http://e.com:65536", "http://e.com:-1/", "http://e.com:8o/",
            "http://[::1/", "http://[nope]/", "http://a..b/", "http://e_x%41.com/", "http://exa$mple.com/",
            "https://\u{2603}.com/", "http://" + String(repeating: "a", count: 64) + ".com/",
            "http://" + String(repeating: "abcdefgh.", count: 30) + "com/", "https:/e.com", "https:e.com",
            "http://:80/", "http://@/",
        ])
    func rejectsHostsAndPortsThatAreNotReal(url: String) {
        #expect(problem(url) == "invalid_url", "\(url)")
    }

    @Test func rejectsOtherSchemes() {
        #expect(problem("ftp://e.com/") == "unsupported_scheme")
        #expect(problem("javascript:alert(1)") == "unsupported_scheme")
        #expect(problem("1http://e.com") == "invalid_url")
    }
}
