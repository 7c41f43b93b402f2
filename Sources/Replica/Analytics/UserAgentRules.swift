import NIOConcurrencyHelpers

/// The small, documented rule table that turns a `User-Agent` into a device class, a browser
/// family and an OS family. Rules are substrings of the lower-cased header, tried in order; the
/// first that matches wins. No header at all counts as a bot: every browser sends one.
enum UserAgentRules {
    /// What the header says about the client.
    struct Client: Equatable, Sendable {
        var device: String
        var browser: String
        var os: String
    }

    /// Crawlers, link-preview fetchers and HTTP libraries: their clicks count as `bot`.
    static let bots = [
        "bot", "crawler", "spider", "slurp", "facebookexternalhit", "facebookcatalog", "slack-imgproxy",
        "slackbot", "discordbot", "whatsapp", "telegrambot", "twitterbot", "linkedinbot", "skypeuripreview",
        "embedly", "pinterest", "redditbot", "applebot", "yandex", "baiduspider", "duckduckbot", "bingpreview",
        "headlesschrome", "lighthouse", "preview", "curl/", "wget/", "python-requests", "python-urllib",
        "aiohttp", "httpx", "go-http-client", "java/", "okhttp", "apache-httpclient", "libwww-perl", "axios/",
        "node-fetch", "undici", "postmanruntime", "insomnia", "httpie", "powershell", "scrapy",
    ]

    /// Browser families, most specific first (Edge and Opera also say "chrome").
    static let browsers: [(family: String, markers: [String])] = [
        ("Edge", ["edg/", "edga/", "edgios/", "edge/"]),
        ("Opera", ["opr/", "opera"]),
        ("Samsung Internet", ["samsungbrowser"]),
        ("Firefox", ["firefox/", "fxios/"]),
        ("Chrome", ["chrome/", "crios/", "chromium/"]),
        ("Safari", ["safari/"]),
        ("Internet Explorer", ["msie ", "trident/"]),
    ]

    /// OS families (iPadOS counts as iOS; Android before Linux, which it also says).
    static let systems: [(family: String, markers: [String])] = [
        ("iOS", ["iphone", "ipad", "ipod"]),
        ("Android", ["android"]),
        ("Windows", ["windows"]),
        ("macOS", ["mac os x", "macintosh"]),
        ("ChromeOS", ["cros "]),
        ("Linux", ["linux", "x11"]),
    ]

    /// Tablets: iPads, Android without "mobile", Kindles.
    static let tablets = ["ipad", "tablet", "kindle", "silk/", "playbook"]
    /// Phones.
    static let phones = ["mobi", "iphone", "ipod", "android", "windows phone"]

    /// Classifications already made: a replica sees the same few hundred user agents over and
    /// over, and matching the rules costs far more than a lookup.
    final class Cache: Sendable {
        private let known = NIOLockedValueBox<[String: Client]>([:])
        /// Entries kept; the cache starts over when full. Default: 4096.
        let capacity: Int

        init(capacity: Int = 4096) { self.capacity = capacity }

        /// ``UserAgentRules/classify(_:)``, remembered.
        func classify(_ userAgent: String?) -> Client {
            guard let userAgent, userAgent.utf8.count <= 512 else { return UserAgentRules.classify(userAgent) }
            if let client = known.withLockedValue({ $0[userAgent] }) { return client }
            let client = UserAgentRules.classify(userAgent)
            known.withLockedValue { known in
                if known.count >= capacity { known.removeAll(keepingCapacity: true) }
                known[userAgent] = client
            }
            return client
        }
    }

    /// The client behind `userAgent` (nil: the header was absent).
    static func classify(_ userAgent: String?) -> Client {
        guard let userAgent, !userAgent.isEmpty else { return Client(device: "bot", browser: "other", os: "other") }
        let text = userAgent.lowercased()
        let os = systems.first { $0.markers.contains(where: text.contains) }?.family ?? "other"
        if bots.contains(where: text.contains) {
            return Client(device: "bot", browser: "other", os: os)
        }
        let browser = browsers.first { $0.markers.contains(where: text.contains) }?.family ?? "other"
        let isTablet =
            tablets.contains(where: text.contains) || (text.contains("android") && !text.contains("mobile"))
        let device = isTablet ? "tablet" : phones.contains(where: text.contains) ? "mobile" : "desktop"
        return Client(device: device, browser: browser, os: os)
    }
}
