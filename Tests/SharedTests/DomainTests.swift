import Foundation
import SharedEvents
import SharedJSON
import SharedLinks
import SharedPostgres
import Testing

/// Short domains on the wire and in keys: names checked and normalised, link keys that stay the
/// bare code on the default domain, and events that carry a domain only when there is one.
@Suite struct DomainTests {
    @Test(arguments: [
        ("go.acme.com", "go.acme.com"), ("Go.ACME.com", "go.acme.com"), ("bücher.example", "xn--bcher-kva.example"),
        ("localhost", "localhost"), ("a-b.example", "a-b.example"),
    ])
    func domainNamesAreNormalisedHosts(text: String, stored: String) throws {
        #expect(try DomainName.normalized(text) == stored)
    }

    @Test(arguments: [
        "", "go.acme.com.", "http://go.acme.com", "go.acme.com:8080", "go.acme.com/x", "go acme.com", "10.0.0.1",
        "[::1]", "under_score.example", "-lead.example", "trail-.example", "a..b",
        String(repeating: "a", count: 64) + ".example",
        String(repeating: "abcdefghi.", count: 26) + "com", "x\u{0}.example",
    ])
    func whatIsNoDomainIsRefused(text: String) {
        #expect(throws: DomainName.Problem.self, "\(text)") { try DomainName.normalized(text) }
    }

    @Test func aHostHeaderIsReadWithoutItsPortCaseOrFinalDot() {
        #expect(DomainName.host(ofHeader: "Go.Example:8081") == "go.example")
        #expect(DomainName.host(ofHeader: "go.example.") == "go.example")
        #expect(DomainName.host(ofHeader: "[::1]:8081") == nil)
        #expect(DomainName.host(ofHeader: "") == nil && DomainName.host(ofHeader: nil) == nil)
        #expect(DomainName.host(ofHeader: "bü.example") == nil)
        #expect(DomainName.host(ofHeader: String(repeating: "a", count: 300)) == nil)
    }

    @Test func linkKeysAreTheBareCodeOnTheDefaultDomainAndReadBack() {
        #expect(LinkAddress(code: "sale").key == "sale")
        #expect(LinkAddress(domain: "", code: "sale") == LinkAddress(code: "sale"))
        #expect(LinkAddress(domain: "go.example", code: "sale").key == "go.example/sale")
        #expect(LinkAddress(key: "go.example/sale") == LinkAddress(domain: "go.example", code: "sale"))
        #expect(LinkAddress(key: "sale") == LinkAddress(code: "sale"))
        for bad in ["", "/sale", "go.example/", "go.example/a b", "a/b/c d"] {
            #expect(LinkAddress(key: bad) == nil, "\(bad)")
        }
    }

    /// A `link.created` as the previous version wrote it (no `domain`): read as the default
    /// domain, keyed by its code, so a topic written before domains replays unchanged.
    @Test func anEventOfThePreviousVersionIsOnTheDefaultDomain() throws {
        let old = Array(
            """
            {"code":"abc","event_id":"9B6E1F0C-7D2A-4C1B-8F3E-2A5D6C7B8E9F","expires_at":null,\
            "occurred_at":"2026-11-28T06:37:37.000Z","revision":1,"tags":["docs"],"type":"link.created",\
            "url":"https://example.com/x","version":1}
            """.utf8)
        let event = try EventCodec.decodeLinkEvent(old)
        #expect(event.domain == nil && event.address == LinkAddress(code: "abc"))
        #expect(OutboxRow(event).key == "abc")
        #expect(EventCodec.encode(event) == old.replacingNull(), "written again as it was")
    }

    @Test func eventsOnADomainCarryItAndAreKeyedByIt() throws {
        let address = LinkAddress(domain: "go.example", code: "sale")
        let created = LinkEvent.created(
            address, url: "https://example.com/x", expiresAt: nil, tags: ["a"], at: Date(timeIntervalSince1970: 1.8e9))
        let bytes = EventCodec.encode(created)
        #expect(bytes == Array(try JSONEncoder.project.encode(created)), "the hand-written encoder is Foundation's")
        #expect(try EventCodec.decodeLinkEvent(bytes) == created)
        #expect(OutboxRow(created).key == "go.example/sale")
        let counted = ClickCountEvent(address, replicaID: "a", replicaEpoch: "e", total: 3)
        #expect(EventCodec.encode(counted) == Array(try JSONEncoder.project.encode(counted)))
        #expect(try EventCodec.decodeClickCountEvent(EventCodec.encode(counted)).address == address)
        let milestone = LinkMilestoneEvent(address, milestone: 100, clicks: 104)
        #expect(milestone.eventID != LinkMilestoneEvent(LinkAddress(code: "sale"), milestone: 100, clicks: 104).eventID)
        #expect(OutboxRow(milestone).key == "go.example/sale")
        var bad = created
        bad.domain = "Go.Example"
        #expect(throws: EventDecodingError.self) { try EventCodec.decodeLinkEvent(EventCodec.encode(bad)) }
    }

    @Test func redirectOptionsTravelOnlyWhenTheyAreNotTheDefaults() throws {
        let time = Date(timeIntervalSince1970: 1.8e9)
        let plain = LinkEvent.created(LinkAddress(code: "abc"), url: "https://e.com/", expiresAt: nil, at: time)
        let text = String(decoding: EventCodec.encode(plain), as: UTF8.self)
        for field in ["redirect_type", "forward_query", "crawlable"] { #expect(!text.contains(field), "\(field)") }
        #expect(try EventCodec.decodeLinkEvent(EventCodec.encode(plain)).redirect == .standard)

        let options = RedirectOptions(status: .permanentRedirect, forwardQuery: false, crawlable: true)
        let custom = LinkEvent.updated(
            LinkAddress(code: "abc"), revision: 2, url: "https://e.com/", expiresAt: nil, maxClicks: nil, tags: [],
            redirect: options, at: time)
        let bytes = EventCodec.encode(custom)
        #expect(bytes == Array(try JSONEncoder.project.encode(custom)), "the hand-written encoder is Foundation's")
        #expect(try EventCodec.decodeLinkEvent(bytes).redirect == options)
        var bad = custom
        bad.redirectType = 303
        #expect(throws: EventDecodingError.self) { try EventCodec.decodeLinkEvent(EventCodec.encode(bad)) }
    }

    @Test func domainEventsAreKeyedApartFromLinks() throws {
        let updated = DomainEvent.updated(
            "go.example", revision: 2, rootURL: "https://example.com/", notFoundURL: nil, expiredURL: nil,
            at: Date(timeIntervalSince1970: 1.8e9))
        #expect(try EventCodec.decodeDomainEvent(EventCodec.encode(updated)) == updated)
        #expect(OutboxRow(updated).key == "@go.example")
        #expect(DomainEvent.messageKey(nil) == "@")
        #expect(
            DomainEvent.isDomainKey(Array("@go.example".utf8)) && !DomainEvent.isDomainKey(Array("go.example/x".utf8)))
        for page in ["javascript:alert(1)", "", "https://e.com/\u{1}"] {
            var bad = updated
            bad.rootURL = page
            #expect(throws: EventDecodingError.self, "\(page)") {
                try EventCodec.decodeDomainEvent(EventCodec.encode(bad))
            }
        }
    }
}

extension [UInt8] {
    /// The bytes without the `"expires_at":null,` member, which Foundation's encoder omits.
    fileprivate func replacingNull() -> [UInt8] {
        Array(String(decoding: self, as: UTF8.self).replacingOccurrences(of: "\"expires_at\":null,", with: "").utf8)
    }
}
