import SharedLinks
import Testing

/// The visitor's query merged into a target: the visitor wins a clash, encodings are kept, a
/// fragment stays last, and the result is an ASCII URI whatever the visitor sent.
@Suite struct QueryForwardingTests {
    @Test(arguments: [
        ("https://shop/sale?ref=1", "utm_source=x", "https://shop/sale?ref=1&utm_source=x"),
        ("https://shop/sale", "utm_source=x&b=2", "https://shop/sale?utm_source=x&b=2"),
        ("https://shop/sale?ref=1&a=1&ref=2", "ref=9", "https://shop/sale?a=1&ref=9"),
        ("https://shop/p?q=a%20b", "x=%C3%BC", "https://shop/p?q=a%20b&x=%C3%BC"),
        ("https://shop/p?a=1#top", "b=2", "https://shop/p?a=1&b=2#top"),
        ("https://shop/p#top", "b=2", "https://shop/p?b=2#top"),
        ("https://shop/p?a=1", "", "https://shop/p?a=1"),
        ("https://shop/p?a=1", "&&", "https://shop/p?a=1"),
        ("https://shop/p", "flag", "https://shop/p?flag"),
        ("https://shop/p", "a=ü b\"<>", "https://shop/p?a=%C3%BC%20b%22%3C%3E"),
        ("https://shop/p", "a=100%&b=%zz", "https://shop/p?a=100%25&b=%25zz"),
        ("https://shop/p", "a=1%0D%0ASet-Cookie:x", "https://shop/p?a=1%0D%0ASet-Cookie:x"),
        ("https://shop/p", "a=\r\n", "https://shop/p?a=%0D%0A"),
        // The one-pass path's edges: empty parameters and escapes cut short go the general way.
        ("https://shop/p", "a=1&", "https://shop/p?a=1"), ("https://shop/p", "&a=1", "https://shop/p?a=1"),
        ("https://shop/p", "a=1&&b=2", "https://shop/p?a=1&b=2"), ("https://shop/p", "a=%4", "https://shop/p?a=%254"),
        ("https://shop/p", "a=%41&b", "https://shop/p?a=%41&b"), ("https://shop/p", "a=%", "https://shop/p?a=%25"),
    ])
    func theVisitorsQueryIsMergedIntoTheTarget(target: String, query: String, expected: String) {
        let merged = QueryForwarding.merge(target: target, query: Substring(query))
        #expect(merged == expected)
        #expect(merged.utf8.allSatisfy { $0 > 0x20 && $0 < 0x7F })
    }

    @Test func campaignParametersGoWhereTheVisitorSetsNone() throws {
        let campaign = try UTMParameters(["campaign": "spring 25", "source": "news&co"])
        #expect(campaign.query == "utm_source=news%26co&utm_campaign=spring%2025")
        #expect(UTMParameters(query: campaign.query) == campaign)
        #expect(
            QueryForwarding.added(campaign: campaign.query, visitor: "utm_source=x&a=1", forwarding: true)
                == "utm_campaign=spring%2025&utm_source=x&a=1")
        #expect(
            QueryForwarding.added(campaign: campaign.query, visitor: "utm_source=x", forwarding: false)
                == "utm_source=news%26co&utm_campaign=spring%2025")
        #expect(QueryForwarding.added(campaign: "", visitor: "a=1", forwarding: true) == "a=1")
        #expect(QueryForwarding.added(campaign: "", visitor: "a=1", forwarding: false) == "")
        #expect(throws: UTMParameters.Problem.self) { try UTMParameters(["term": String(repeating: "x", count: 201)]) }
    }
}
