import Foundation
@testable import SharedEvents
import SharedJSON
import SharedLinks
import Testing

/// Rules and splits as values: what reading them refuses, their one JSON form, and how a
/// visitor is decided, condition by condition, with an injected clock.
@Suite struct LinkRoutingTests {
    static func routing(_ json: String) throws -> LinkRouting { try LinkRouting.parse(Array(json.utf8)) }

    static let start = Date(timeIntervalSince1970: 1_800_000_000)

    /// A desktop Chrome on Linux in Germany, speaking German and English, without a query.
    static func visitor(
        device: String = "desktop", os: String = "Linux", browser: String = "Chrome", country: String = "DE",
        languages: String? = "de-DE,de;q=0.9,en;q=0.5", query: String? = nil, address: String? = "192.0.2.10",
        now: Date = start, bucket: Int = 0
    ) -> RouteVisitor {
        RouteVisitor(
            device: device, os: os, browser: browser, country: country, acceptLanguage: languages, query: query,
            address: address, now: now, bucket: bucket)
    }

    @Test(arguments: [
        (#"{"rules":[{"url":"https://e.com/"}]}"#, "'when'"),
        (#"{"rules":[{"when":{},"url":"https://e.com/"}]}"#, "at least one condition"),
        (#"{"rules":[{"when":{"device":["phone"]},"url":"https://e.com/"}]}"#, "'device' is one of"),
        (#"{"rules":[{"when":{"os":["beos"]},"url":"https://e.com/"}]}"#, "'os' is one of"),
        (#"{"rules":[{"when":{"browser":["netscape"]},"url":"https://e.com/"}]}"#, "'browser' is one of"),
        (#"{"rules":[{"when":{"language":["english"]},"url":"https://e.com/"}]}"#, "language tags"),
        (#"{"rules":[{"when":{"country":["DEU"]},"url":"https://e.com/"}]}"#, "ISO 3166"),
        (#"{"rules":[{"when":{"query":["=x"]},"url":"https://e.com/"}]}"#, "'query' holds"),
        (#"{"rules":[{"when":{"ip":["10.0.0.0/33"]},"url":"https://e.com/"}]}"#, "'ip' holds"),
        (#"{"rules":[{"when":{"ip":["not-an-ip"]},"url":"https://e.com/"}]}"#, "'ip' holds"),
        (#"{"rules":[{"when":{"after":"tomorrow"},"url":"https://e.com/"}]}"#, "RFC 3339"),
        (
            #"{"rules":[{"when":{"after":"2030-01-02T00:00:00Z","before":"2030-01-01T00:00:00Z"},"url":"https://e.com/"}]}"#,
            "'after' comes before"
        ),
        (#"{"rules":[{"when":{"device":[]},"url":"https://e.com/"}]}"#, "1 to 50"),
        (#"{"rules":[{"when":{"device":["mobile"]}}]}"#, "either 'url' or 'split'"),
        (
            #"{"rules":[{"when":{"device":["mobile"]},"url":"https://e.com/","split":[{"url":"https://a.com/","weight":50},{"url":"https://b.com/","weight":50}]}]}"#,
            "either 'url' or 'split'"
        ),
        (#"{"split":[{"url":"https://a.com/","weight":60},{"url":"https://b.com/","weight":30}]}"#, "sum to 100"),
        (#"{"split":[{"url":"https://a.com/","weight":100}]}"#, "1 to 99"),
        (
            #"{"split":[{"url":"https://a.com/","weight":50,"label":"x"},{"url":"https://b.com/","weight":50}]}"#,
            "'label'"
        ),
        (#"{"rules":[{"when":{"device":["mobile"],"planet":["mars"]},"url":"https://e.com/"}]}"#, "'planet'"),
    ])
    func readingRefusesWhatIsOutOfRange(json: String, problem: String) throws {
        #expect {
            try Self.routing(json)
        } throws: { error in
            String(describing: error).contains(problem)
        }
    }

    @Test func moreThanThirtyTwoRulesAreRefused() throws {
        let rule = #"{"when":{"device":["mobile"]},"url":"https://e.com/"}"#
        let many = "{\"rules\":[" + Array(repeating: rule, count: 33).joined(separator: ",") + "]}"
        #expect(throws: RoutingProblem.self) { try Self.routing(many) }
        let most = "{\"rules\":[" + Array(repeating: rule, count: 32).joined(separator: ",") + "]}"
        #expect(try Self.routing(most).rules.count == 32)
    }

    @Test func valuesAreNormalisedAndTheJSONReadsBackTheSame() throws {
        let routing = try Self.routing(
            #"{"rules":[{"when":{"device":["Mobile"],"os":["iOS"],"country":["de"],"language":["EN-gb"],"ip":["10.1.2.3/8","2001:DB8::/32"],"after":"2030-01-01T00:00:00Z"},"url":"https://e.com/"}]}"#
        )
        let when = routing.rules[0].when
        #expect(when.device == ["mobile"] && when.os == ["ios"] && when.country == ["DE"])
        #expect(when.language == ["en-gb"])
        #expect(when.ip?.map(\.description) == ["10.1.2.3/8", "2001:db8::/32"])
        let json = String(decoding: routing.json, as: UTF8.self)
        #expect(try Self.routing(json) == routing)
        #expect(json.contains(#""after":"2030-01-01T00:00:00.000Z""#), "\(json)")
    }

    @Test func theFirstRuleWhoseConditionsAllHoldWinsElseTheLinksOwnTarget() throws {
        let routing = try Self.routing(
            """
            {"rules":[
              {"when":{"device":["mobile"],"os":["ios"]},"url":"https://apps.apple.com/app"},
              {"when":{"device":["mobile","tablet"]},"url":"https://m.example.com/"},
              {"when":{"language":["fr"]},"url":"https://example.fr/"},
              {"when":{"language":["en"]},"url":"https://example.com/en"},
              {"when":{"country":["US","CA"]},"url":"https://example.com/na"},
              {"when":{"browser":["firefox"]},"url":"https://example.com/firefox"},
              {"when":{"query":["promo"]},"url":"https://example.com/promo"},
              {"when":{"query":["ref=mail list"]},"url":"https://example.com/mail"},
              {"when":{"ip":["198.51.100.0/24","2001:db8::/32"]},"url":"https://example.com/office"},
              {"when":{"after":"2027-02-01T00:00:00Z","before":"2027-03-01T00:00:00Z"},"url":"https://example.com/sale"}
            ]}
            """)
        func target(_ visitor: RouteVisitor) -> String? { routing.decision(for: visitor).target }
        let base = Self.visitor(languages: nil)
        #expect(routing.decision(for: base) == LinkRouting.Decision(), "no rule holds: the link's own url")
        #expect(target(Self.visitor(device: "mobile", os: "iOS")) == "https://apps.apple.com/app")
        #expect(target(Self.visitor(device: "mobile", os: "Android")) == "https://m.example.com/", "all must hold")
        #expect(target(Self.visitor(device: "tablet", os: "iOS", languages: nil)) == "https://m.example.com/")
        // Languages: any the visitor accepts; `en` takes `en-GB`; a quality of 0 refuses one.
        #expect(target(Self.visitor(languages: "de-DE,en-GB;q=0.8")) == "https://example.com/en")
        #expect(target(Self.visitor(languages: "en-GB;q=0.8,fr-CA;q=0.5")) == "https://example.fr/", "first rule wins")
        #expect(target(Self.visitor(languages: "fr;q=0,de")) == nil, "q=0 is a refusal")
        #expect(target(Self.visitor(languages: "english,*")) == nil)
        #expect(target(Self.visitor(country: "CA", languages: nil)) == "https://example.com/na")
        #expect(target(Self.visitor(browser: "Firefox", languages: nil)) == "https://example.com/firefox")
        // Query: present, or equal once decoded.
        #expect(target(Self.visitor(languages: nil, query: "a=1&promo")) == "https://example.com/promo")
        #expect(target(Self.visitor(languages: nil, query: "promo=")) == "https://example.com/promo")
        #expect(target(Self.visitor(languages: nil, query: "ref=mail+list")) == "https://example.com/mail")
        #expect(target(Self.visitor(languages: nil, query: "ref=mail%20list")) == "https://example.com/mail")
        #expect(target(Self.visitor(languages: nil, query: "ref=mail")) == nil)
        #expect(target(Self.visitor(languages: nil, query: "promotion=1")) == nil)
        // Addresses: IPv4 and IPv6 networks; an IPv4-mapped address is IPv4.
        #expect(target(Self.visitor(languages: nil, address: "198.51.100.77")) == "https://example.com/office")
        #expect(target(Self.visitor(languages: nil, address: "::ffff:198.51.100.7")) == "https://example.com/office")
        #expect(target(Self.visitor(languages: nil, address: "2001:db8:1::5")) == "https://example.com/office")
        #expect(target(Self.visitor(languages: nil, address: "198.51.101.1")) == nil)
        #expect(target(Self.visitor(languages: nil, address: nil)) == nil)
        // Time: from `after` on, until `before`.
        func at(_ text: String) throws -> RouteVisitor { Self.visitor(languages: nil, now: try RFC3339.parse(text)) }
        #expect(target(try at("2027-01-31T23:59:59Z")) == nil)
        #expect(target(try at("2027-02-01T00:00:00Z")) == "https://example.com/sale")
        #expect(target(try at("2027-02-28T23:59:59Z")) == "https://example.com/sale")
        #expect(target(try at("2027-03-01T00:00:00Z")) == nil)
        #expect(routing.decision(for: Self.visitor(device: "mobile", os: "iOS")).ruleValue == "1")
        #expect(routing.decision(for: base).ruleValue == "default")
    }

    @Test func aSplitGivesEachVariantItsShareAndAVisitorTheSameVariantEachTime() throws {
        let routing = try Self.routing(
            """
            {"rules":[{"when":{"device":["mobile"]},"split":[{"url":"https://m.a/","weight":25},{"url":"https://m.b/","weight":75}]}],
             "split":[{"url":"https://a/","weight":70},{"url":"https://b/","weight":20},{"url":"https://c/","weight":10}]}
            """)
        var shares: [String: Int] = [:]
        for bucket in 0..<100 {
            let decision = routing.decision(for: Self.visitor(bucket: bucket))
            shares[decision.variantValue ?? "none", default: 0] += 1
            #expect(decision.rule == nil && decision.variant != nil)
        }
        #expect(shares == ["default/1": 70, "default/2": 20, "default/3": 10])
        #expect(routing.decision(for: Self.visitor(device: "mobile", bucket: 30)).variantValue == "1/2")
        #expect(routing.decision(for: Self.visitor(device: "mobile", bucket: 30)).target == "https://m.b/")

        // Buckets of random visitors spread evenly; one visitor keeps its bucket on a link.
        var buckets = [Int](repeating: 0, count: 100)
        for _ in 0..<100_000 {
            let id = String(format: "%016llx", UInt64.random(in: .min ... .max))
            buckets[RouteVisitor.bucket(visitorID: id, linkKey: "abc")] += 1
        }
        #expect(buckets.allSatisfy { (800...1200).contains($0) }, "\(buckets)")
        #expect(
            RouteVisitor.bucket(visitorID: "0123456789abcdef", linkKey: "abc")
                == RouteVisitor.bucket(visitorID: "0123456789abcdef", linkKey: "abc"))
    }

    @Test func acceptLanguageIsReadByQualityThenOrder() {
        #expect(RouteVisitor.languages("da, en-gb;q=0.8, en;q=0.7") == ["da", "en-gb", "en"])
        #expect(RouteVisitor.languages("en;q=0.5,de;q=0.9,fr") == ["fr", "de", "en"])
        #expect(RouteVisitor.languages("de;q=0, *;q=0.1, x") == [])
        #expect(RouteVisitor.languages(String(repeating: "en,", count: 1000)) == [])
        #expect(RouteVisitor.languages(nil) == [])
    }

    @Test func aLinkEventCarriesItsRoutingAndBothCodecsAgree() throws {
        let routing = try Self.routing(
            #"{"rules":[{"when":{"device":["mobile"],"before":"2030-01-01T00:00:00Z"},"url":"https://m.example.com/"}],"split":[{"url":"https://a.example/","weight":50},{"url":"https://b.example/","weight":50}]}"#
        )
        let event = LinkEvent.created(
            LinkAddress(domain: nil, code: "ruled"), url: "https://example.com/", expiresAt: nil, routing: routing,
            at: Self.start)
        let bytes = EventCodec.encode(event)
        #expect(bytes == Array(try JSONEncoder.project.encode(event)), "the hand-written bytes are the encoder's")
        #expect(try EventCodec.decodeLinkEvent(bytes) == event)
        #expect(try EventCodec.decode(bytes) as LinkEvent == event)
        let plain = LinkEvent.created(LinkAddress(domain: nil, code: "plain"), url: "https://e.com/", expiresAt: nil)
        #expect(!String(decoding: EventCodec.encode(plain), as: UTF8.self).contains("routing"))
        var protected = event
        protected.passwordHash = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2g"
        let withHash = EventCodec.encode(protected)
        #expect(try EventCodec.decodeLinkEvent(withHash) == protected)
        #expect(withHash == Array(try JSONEncoder.project.encode(protected)))
        #expect(!String(decoding: EventCodec.encode(protected.forReceivers), as: UTF8.self).contains("argon2"))
        var broken = String(decoding: bytes, as: UTF8.self)
        broken = broken.replacingOccurrences(of: #""weight":50}]"#, with: #""weight":40}]"#)
        #expect(throws: EventDecodingError.self) { try EventCodec.decodeLinkEvent(Array(broken.utf8)) }
    }
}
