import Foundation
import SharedLinks
import Testing
@testable import Replica

/// What a redirect records about a click: the rule table for `User-Agent`, the referrer host,
/// the hour and the country.
@Suite struct ClickAttributesTests {
    /// Rules may ask for exactly the families the user-agent rules name (lower-case).
    @Test func rulesKnowEveryFamilyTheUserAgentRulesName() {
        #expect(Set(UserAgentRules.browsers.map { $0.family.lowercased() } + ["other"]) == Set(ClientFamilies.browsers))
        #expect(Set(UserAgentRules.systems.map { $0.family.lowercased() } + ["other"]) == Set(ClientFamilies.systems))
    }

    @Test(
        arguments: [
            (
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
                "desktop", "Chrome", "Windows"
            ),
            (
                "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1",
                "mobile", "Safari", "iOS"
            ),
            (
                "Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/119.0 Mobile/15E148 Safari/604.1",
                "tablet", "Chrome", "iOS"
            ),
            (
                "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Mobile Safari/537.36",
                "mobile", "Chrome", "Android"
            ),
            (
                "Mozilla/5.0 (Linux; Android 13; SM-X700) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/119.0 Safari/537.36",
                "tablet", "Chrome", "Android"
            ),
            (
                "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36 Edg/120.0",
                "desktop", "Edge", "macOS"
            ),
            ("Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0", "desktop", "Firefox", "Linux"),
            (
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36 OPR/105.0",
                "desktop", "Opera", "Windows"
            ),
            ("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", "bot", "other", "other"),
            ("facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)", "bot", "other", "other"),
            ("Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)", "bot", "other", "other"),
            ("WhatsApp/2.23.20.0 A", "bot", "other", "other"),
            ("Mozilla/5.0 (compatible; Discordbot/2.0; +https://discordapp.com)", "bot", "other", "other"),
            ("Twitterbot/1.0", "bot", "other", "other"),
            ("curl/8.4.0", "bot", "other", "other"),
            ("python-requests/2.31.0", "bot", "other", "other"),
            ("Go-http-client/1.1", "bot", "other", "other"),
            ("SomethingNew/1.0", "desktop", "other", "other"),
        ])
    func classifiesUserAgents(userAgent: String, device: String, browser: String, os: String) {
        #expect(UserAgentRules.classify(userAgent) == .init(device: device, browser: browser, os: os))
    }

    @Test func noUserAgentIsABot() {
        #expect(UserAgentRules.classify(nil).device == "bot")
        #expect(UserAgentRules.classify("").device == "bot")
    }

    @Test(
        arguments: [
            (nil, "direct"), ("", "direct"), ("https://www.Google.com/search?q=a", "google.com"),
            ("http://news.ycombinator.com:8080/item", "news.ycombinator.com"), ("https://user:pw@t.co/x", "t.co"),
            ("https://example.org.", "example.org"), ("android-app://com.slack/", "invalid"), ("not a url", "invalid"),
            ("https://", "invalid"), ("https://bad host/", "invalid"), ("https://[2001:db8::1]:443/", "[2001:db8::1]"),
            ("https://ex%41mple.com/", "invalid"), ("HTTPS://WWW.Example.COM:80/Path", "example.com"),
            ("https://a.example/x@y.example", "a.example"), ("https://[::1", "invalid"), ("https://www./", "invalid"),
            ("https://www", "www"), ("https://\(String(repeating: "a", count: 254))/", "invalid"),
            ("https://é.example/", "invalid"), ("https://a.example?q=1", "a.example"), ("ftp://a.example/", "invalid"),
        ] as [(String?, String)])
    func referrersAreHosts(referer: String?, host: String) {
        #expect(ReferrerHost.of(referer) == host)
    }

    @Test func hoursMatchTheGregorianCalendar() {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<2000 {
            let time = Date(timeIntervalSince1970: Double.random(in: 0..<4_102_444_800, using: &generator))
            let parts = calendar.dateComponents([.year, .month, .day, .hour], from: time)
            let expected = String(format: "%04d%02d%02d%02d", parts.year!, parts.month!, parts.day!, parts.hour!)
            #expect(ClickAttributes.hour(of: time) == expected, "\(time)")
        }
    }

    @Test func hoursAreUTC() {
        #expect(ClickAttributes.hour(of: Date(timeIntervalSince1970: 1_795_800_000)) == "2026112717")
        #expect(ClickAttributes.hour(of: Date(timeIntervalSince1970: 0)) == "1970010100")
    }

    @Test func countriesComeFromDebiansGeoIPDatabases() {
        let lookup = CountryLookup()
        #expect(lookup.isAvailable, "geoip-database is not installed")
        #expect(lookup.country(of: "8.8.8.8") == "US")
        #expect(lookup.country(of: "81.2.69.160") == "GB")
        #expect(lookup.country(of: "2001:4860:4860::8888") == "US")
        for address in ["10.0.0.1", "127.0.0.1", "::1", "not an address", ""] {
            #expect(lookup.country(of: address) == CountryLookup.unknown, "\(address)")
        }
        #expect(CountryLookup(directory: "/nonexistent").country(of: "8.8.8.8") == CountryLookup.unknown)
    }
}
