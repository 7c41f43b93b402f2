import SharedConfiguration
import SharedService
import Testing

/// `X-Forwarded-For` counts only when the socket's address is a trusted proxy.
@Suite struct TrustedProxiesTests {
    @Test func theHeaderIsBelievedOnlyFromTrustedProxies() throws {
        let proxies = try TrustedProxies(parsing: "10.0.0.0/8, 192.168.1.10, ::1/128")
        #expect(proxies.clientAddress(socket: "10.1.2.3", forwardedFor: "1.1.1.1, 8.8.8.8") == "8.8.8.8")
        #expect(proxies.clientAddress(socket: "192.168.1.10", forwardedFor: "8.8.4.4") == "8.8.4.4")
        #expect(proxies.clientAddress(socket: "::1", forwardedFor: "2001:db8::7") == "2001:db8::7")
        #expect(proxies.clientAddress(socket: "::ffff:10.0.0.5", forwardedFor: "9.9.9.9") == "9.9.9.9")
        #expect(proxies.clientAddress(socket: "192.168.1.11", forwardedFor: "8.8.8.8") == "192.168.1.11")
        #expect(proxies.clientAddress(socket: "11.0.0.1", forwardedFor: "8.8.8.8") == "11.0.0.1")
        #expect(proxies.clientAddress(socket: "10.0.0.1", forwardedFor: "not an address") == "10.0.0.1")
        #expect(proxies.clientAddress(socket: "10.0.0.1", forwardedFor: nil) == "10.0.0.1")
        #expect(TrustedProxies.none.clientAddress(socket: "10.0.0.1", forwardedFor: "8.8.8.8") == "10.0.0.1")
    }

    @Test func badListsAreRefused() {
        for text in ["10.0.0.0/33", "example.com", "10.0.0.0/x", "::/129"] {
            #expect(throws: SettingError.self, "\(text)") { try TrustedProxies(parsing: text) }
        }
        #expect(throws: Never.self) { try TrustedProxies(parsing: " , 0.0.0.0/0") }
    }
}
