import Foundation
import SharedJSON

/// Where a link sends each visitor beyond its own `url`: an ordered list of rules, the first
/// whose conditions all hold giving the target, and an A/B split of the link's own target.
/// Set on the master, carried whole in `link.created` / `link.updated` (`routing`), and decided
/// on the replica for every redirect (``decision(for:)``).
///
/// Its JSON is its API form too: `{"rules":[{"when":{"device":["mobile"]},"url":"…"}],
/// "split":[{"url":"…","weight":50},…]}`. Reading it checks every range (``RoutingProblem``);
/// the targets are checked like a link's `url` by the master.
public struct LinkRouting: Codable, Sendable, Equatable {
    /// Tried in order; the first whose conditions all hold gives the target.
    public var rules: [RedirectRule]
    /// The link's own target split between variants when no rule holds; nil: its `url`.
    public var split: [WeightedTarget]?

    /// Most rules a link may have.
    public static let maximumRules = 32

    /// No rules and no split.
    public static let none = LinkRouting(rules: [], split: nil)

    public init(rules: [RedirectRule], split: [WeightedTarget]? = nil) {
        self.rules = rules
        self.split = split
    }

    /// Whether every visitor goes to the link's `url`.
    public var isEmpty: Bool { rules.isEmpty && split == nil }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case rules, split
    }

    public init(from decoder: any Decoder) throws {
        try RoutingProblem.refuseUnknownKeys(decoder, CodingKeys.self, in: "the routing")
        let container = try decoder.container(keyedBy: CodingKeys.self)
        rules = try container.decodeIfPresent([RedirectRule].self, forKey: .rules) ?? []
        split = try container.decodeIfPresent([WeightedTarget].self, forKey: .split)
        try check()
    }

    /// Checks the whole (each rule and target checks itself as it is read): at most
    /// ``maximumRules`` rules, and a split of 2 to 10 targets whose weights sum to 100.
    public func check() throws(RoutingProblem) {
        guard rules.count <= Self.maximumRules else {
            throw RoutingProblem("a link has at most \(Self.maximumRules) rules")
        }
        if let split { try WeightedTarget.check(split, in: "'split'") }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(rules, forKey: .rules)
        try container.encodeIfPresent(split, forKey: .split)
    }

    /// The same routing with every target passed through `check` (the master's URL check).
    public func mappingTargets<Failure: Error>(_ check: (String) throws(Failure) -> String) throws(Failure)
        -> LinkRouting
    {
        var routing = self
        for index in routing.rules.indices {
            if let url = routing.rules[index].url { routing.rules[index].url = try check(url) }
            if let split = routing.rules[index].split {
                routing.rules[index].split = try WeightedTarget.mapping(split, check)
            }
        }
        if let split { routing.split = try WeightedTarget.mapping(split, check) }
        return routing
    }

    /// Every target a visitor may be sent to.
    public var targets: [String] {
        rules.flatMap { rule in rule.url.map { [$0] } ?? rule.split?.map(\.url) ?? [] } + (split?.map(\.url) ?? [])
    }

    /// What a visit resolves to: the rule that held (1-based; nil when none did, so the link's
    /// own target), the variant of a split (1-based; nil without one), and the target (nil: the
    /// link's `url`).
    public struct Decision: Sendable, Equatable {
        public var rule: Int?
        public var variant: Int?
        public var target: String?

        public init(rule: Int? = nil, variant: Int? = nil, target: String? = nil) {
            self.rule = rule
            self.variant = variant
            self.target = target
        }

        /// The rule as the analytics record it: its number, or `default`.
        public var ruleValue: String { rule.map(String.init) ?? "default" }
        /// The variant as the analytics record it, `<rule>/<variant>`; nil without a split.
        public var variantValue: String? { variant.map { "\(ruleValue)/\($0)" } }
    }

    /// Where `visitor` goes: the first rule whose conditions all hold, else the link's own split
    /// or `url`. (A replica decides many visits on one routing: it keeps the ``CompiledRouting``.)
    public func decision(for visitor: RouteVisitor) -> Decision { CompiledRouting(self).decision(for: visitor) }

    /// Whether any rule or split needs the visitor's A/B bucket.
    public var hasSplit: Bool { split != nil || rules.contains { $0.split != nil } }

    /// The routing as stored in Postgres and Redis and carried in events: the project's JSON.
    public var json: [UInt8] { Array((try? JSONEncoder.project.encode(self)) ?? Data("{}".utf8)) }

    /// Reads routing as ``json`` writes it, checking every range.
    public static func parse(_ bytes: some Collection<UInt8>) throws -> LinkRouting {
        try JSONDecoder().decode(LinkRouting.self, from: Data(bytes))
    }
}

/// One rule: conditions, and the target (or split) for a visitor who meets them all.
public struct RedirectRule: Codable, Sendable, Equatable {
    /// Every condition must hold (each lists alternatives, any of which will do).
    public var when: RuleConditions
    /// The target; exactly one of `url` and `split` is set.
    public var url: String?
    /// Weighted targets, one picked per visitor.
    public var split: [WeightedTarget]?

    public init(when: RuleConditions, url: String? = nil, split: [WeightedTarget]? = nil) {
        self.when = when
        self.url = url
        self.split = split
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case when, url, split
    }

    public init(from decoder: any Decoder) throws {
        try RoutingProblem.refuseUnknownKeys(decoder, CodingKeys.self, in: "a rule")
        let container = try decoder.container(keyedBy: CodingKeys.self)
        guard let when = try container.decodeIfPresent(RuleConditions.self, forKey: .when), !when.isEmpty else {
            throw RoutingProblem("every rule needs 'when' with at least one condition")
        }
        self.when = when
        url = try container.decodeIfPresent(String.self, forKey: .url)
        split = try container.decodeIfPresent([WeightedTarget].self, forKey: .split)
        guard (url == nil) != (split == nil) else { throw RoutingProblem("a rule has either 'url' or 'split'") }
        if let split { try WeightedTarget.check(split, in: "a rule's 'split'") }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(when, forKey: .when)
        try container.encodeIfPresent(url, forKey: .url)
        try container.encodeIfPresent(split, forKey: .split)
    }
}

/// One variant of a split: a target and its share of the visitors, in percent.
public struct WeightedTarget: Codable, Sendable, Equatable {
    public var url: String
    /// 1 to 99; a split's weights sum to 100.
    public var weight: Int

    public init(url: String, weight: Int) {
        self.url = url
        self.weight = weight
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case url, weight
    }

    /// Variants a split may have.
    public static let variantCounts = 2...10

    public init(from decoder: any Decoder) throws {
        try RoutingProblem.refuseUnknownKeys(decoder, CodingKeys.self, in: "a split's target")
        let container = try decoder.container(keyedBy: CodingKeys.self)
        url = try container.decode(String.self, forKey: .url)
        weight = try container.decode(Int.self, forKey: .weight)
        guard (1...99).contains(weight) else { throw RoutingProblem("a split's 'weight' is 1 to 99 (percent)") }
    }

    static func check(_ split: [WeightedTarget], in place: String) throws(RoutingProblem) {
        guard variantCounts.contains(split.count) else {
            throw RoutingProblem("\(place) has \(variantCounts.lowerBound) to \(variantCounts.upperBound) targets")
        }
        guard split.reduce(0, { $0 + $1.weight }) == 100 else {
            throw RoutingProblem("the weights of \(place) sum to 100")
        }
    }

    static func mapping<Failure: Error>(_ split: [WeightedTarget], _ check: (String) throws(Failure) -> String)
        throws(Failure) -> [WeightedTarget]
    {
        var mapped: [WeightedTarget] = []
        for target in split { mapped.append(WeightedTarget(url: try check(target.url), weight: target.weight)) }
        return mapped
    }

    /// The variant (1-based) and target for a visitor in `bucket` (0 to 99): each variant
    /// takes as many buckets as its weight, in order.
    static func pick(_ split: [WeightedTarget], bucket: Int) -> (Int, String) {
        var upTo = 0
        for (index, target) in split.enumerated() {
            upTo += target.weight
            if bucket < upTo { return (index + 1, target.url) }
        }
        return (split.count, split[split.count - 1].url)
    }
}

/// A rule's conditions: each one set lists alternatives, and holds when the visitor matches any
/// of them; the rule holds when every condition set holds.
public struct RuleConditions: Codable, Sendable, Equatable {
    /// `mobile`, `tablet`, `desktop` or `bot`.
    public var device: [String]?
    /// OS families, lower-case (``ClientFamilies/systems``).
    public var os: [String]?
    /// Browser families, lower-case (``ClientFamilies/browsers``).
    public var browser: [String]?
    /// Language tags, lower-case: `en` matches `en` and `en-gb`, `en-gb` only `en-gb`; the
    /// visitor's are those `Accept-Language` accepts (quality above 0).
    public var language: [String]?
    /// ISO 3166 country codes, upper-case.
    public var country: [String]?
    /// `name` (the parameter is present) or `name=value` (it has that value).
    public var query: [String]?
    /// Addresses or CIDR networks, IPv4 or IPv6.
    public var ip: [IPNetwork]?
    /// Holds from this instant on.
    public var after: Date?
    /// Holds until this instant.
    public var before: Date?

    public init(
        device: [String]? = nil, os: [String]? = nil, browser: [String]? = nil, language: [String]? = nil,
        country: [String]? = nil, query: [String]? = nil, ip: [IPNetwork]? = nil, after: Date? = nil,
        before: Date? = nil
    ) {
        self.device = device
        self.os = os
        self.browser = browser
        self.language = language
        self.country = country
        self.query = query
        self.ip = ip
        self.after = after
        self.before = before
    }

    /// Most alternatives one condition lists.
    public static let maximumAlternatives = 50

    /// Whether it has no condition at all.
    var isEmpty: Bool {
        device == nil && os == nil && browser == nil && language == nil && country == nil && query == nil
            && ip == nil && after == nil && before == nil
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case device, os, browser, language, country, query, ip, after, before
    }

    public init(from decoder: any Decoder) throws {
        try RoutingProblem.refuseUnknownKeys(decoder, CodingKeys.self, in: "a rule's 'when'")
        let container = try decoder.container(keyedBy: CodingKeys.self)
        func list(_ key: CodingKeys, _ normalize: (String) throws(RoutingProblem) -> String) throws -> [String]? {
            guard let values = try container.decodeIfPresent([String].self, forKey: key) else { return nil }
            guard (1...Self.maximumAlternatives).contains(values.count) else {
                throw RoutingProblem("'\(key.rawValue)' lists 1 to \(Self.maximumAlternatives) values")
            }
            var normalized: [String] = []
            for value in values { normalized.append(try normalize(value)) }
            return normalized
        }
        func member(of known: [String], _ key: CodingKeys) -> (String) throws(RoutingProblem) -> String {
            { value throws(RoutingProblem) in
                let lowered = value.lowercased()
                guard known.contains(lowered) else {
                    throw RoutingProblem("'\(key.rawValue)' is one of \(known.joined(separator: ", "))")
                }
                return lowered
            }
        }
        device = try list(.device, member(of: ClientFamilies.devices, .device))
        os = try list(.os, member(of: ClientFamilies.systems, .os))
        browser = try list(.browser, member(of: ClientFamilies.browsers, .browser))
        language = try list(.language) { value throws(RoutingProblem) in
            let tag = value.lowercased()
            guard Self.isLanguageTag(tag) else {
                throw RoutingProblem("'language' holds language tags like en or en-GB")
            }
            return tag
        }
        country = try list(.country) { value throws(RoutingProblem) in
            let code = value.uppercased()
            guard code.utf8.count == 2, code.utf8.allSatisfy({ $0 >= 0x41 && $0 <= 0x5A }) else {
                throw RoutingProblem("'country' holds ISO 3166 codes like DE")
            }
            return code
        }
        query = try list(.query) { value throws(RoutingProblem) in
            let name = value.prefix { $0 != "=" }
            guard (1...100).contains(name.utf8.count), value.utf8.count <= 600,
                !value.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F })
            else {
                throw RoutingProblem(
                    "'query' holds 'name' or 'name=value': a name of 1-100 and a value of up to 500 characters, no control characters"
                )
            }
            return value
        }
        let networks = try list(.ip) { value throws(RoutingProblem) in
            guard let network = IPNetwork(value) else {
                throw RoutingProblem("'ip' holds IP addresses or CIDR networks like 10.0.0.0/8 or 2001:db8::/32")
            }
            return network.description
        }
        ip = networks?.compactMap { IPNetwork($0) }
        func instant(_ key: CodingKeys) throws -> Date? {
            guard let text = try container.decodeIfPresent(String.self, forKey: key) else { return nil }
            guard let date = try? RFC3339.parse(text), date < LinkLimits.latestExpiry else {
                throw RoutingProblem("'\(key.rawValue)' is an RFC 3339 time before the year 10000")
            }
            return date
        }
        after = try instant(.after)
        before = try instant(.before)
        if let after, let before, after >= before { throw RoutingProblem("'after' comes before 'before'") }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encodeIfPresent(device, forKey: .device)
        try container.encodeIfPresent(os, forKey: .os)
        try container.encodeIfPresent(browser, forKey: .browser)
        try container.encodeIfPresent(language, forKey: .language)
        try container.encodeIfPresent(country, forKey: .country)
        try container.encodeIfPresent(query, forKey: .query)
        try container.encodeIfPresent(ip?.map(\.description), forKey: .ip)
        try container.encodeIfPresent(after.map(RFC3339.format), forKey: .after)
        try container.encodeIfPresent(before.map(RFC3339.format), forKey: .before)
    }

    /// `en`, `en-gb`, `zh-hant-tw`: a primary language of 2-3 letters, then subtags of 1-8
    /// letters or digits, 35 characters at most.
    static func isLanguageTag(_ tag: String) -> Bool {
        let parts = tag.split(separator: "-", omittingEmptySubsequences: false)
        guard tag.utf8.count <= 35, let primary = parts.first, (2...3).contains(primary.utf8.count),
            primary.utf8.allSatisfy({ $0 >= 0x61 && $0 <= 0x7A })
        else { return false }
        return parts.dropFirst().allSatisfy { part in
            (1...8).contains(part.utf8.count)
                && part.utf8.allSatisfy { ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x30 && $0 <= 0x39) }
        }
    }

}

/// What a rule may ask about a visitor, worked out from the request.
public struct RouteVisitor: Sendable {
    /// `mobile`, `tablet`, `desktop` or `bot`.
    public var device: String
    /// OS family, lower-case.
    public var os: String
    /// Browser family, lower-case.
    public var browser: String
    /// ISO 3166 code, or `unknown`.
    public var country: String
    /// The languages `Accept-Language` accepts, lower-case, most wanted first.
    public var languages: [String]
    /// The query string as sent (without `?`).
    public var query: String?
    /// The client's address as ``IPNetwork/bytes(of:)`` gives it.
    public var address: [UInt8]?
    public var now: Date
    /// 0 to 99, the same for one visitor and link on every visit: picks a split's variant.
    public var bucket: Int

    public init(
        device: String, os: String, browser: String, country: String, acceptLanguage: String?, query: String?,
        address: String?, now: Date, bucket: Int
    ) {
        self.device = device
        self.os = os.lowercased()
        self.browser = browser.lowercased()
        self.country = country
        self.languages = Self.languages(acceptLanguage)
        self.query = query
        self.address = address.flatMap(IPNetwork.bytes(of:))
        self.now = now
        self.bucket = bucket
    }

    /// Most `Accept-Language` entries read; the rest are ignored.
    static let maximumLanguages = 16

    /// The tags `header` accepts (quality above 0), most wanted first (ties in the order sent),
    /// lower-case; `*` and malformed entries are left out.
    public static func languages(_ header: String?) -> [String] {
        guard let header, header.utf8.count <= 1024 else { return [] }
        var entries: [(tag: String, quality: Double, order: Int)] = []
        for (order, entry) in header.split(separator: ",").prefix(maximumLanguages).enumerated() {
            let parts = entry.split(separator: ";")
            guard let first = parts.first else { continue }
            let tag = first.trimmingCharacters(in: .whitespaces).lowercased()
            var quality = 1.0
            for parameter in parts.dropFirst() {
                let pair = parameter.trimmingCharacters(in: .whitespaces)
                if pair.hasPrefix("q="), let value = Double(pair.dropFirst(2)), (0...1).contains(value) {
                    quality = value
                }
            }
            guard quality > 0, RuleConditions.isLanguageTag(tag) else { continue }
            entries.append((tag, quality, order))
        }
        return entries.sorted { ($0.quality, -$0.order) > ($1.quality, -$1.order) }.map(\.tag)
    }

    /// The query's parameters, `+` and percent escapes decoded; at most 100.
    var queryParameters: [(name: Substring, value: Substring)] {
        guard let query, !query.isEmpty else { return [] }
        return query.split(separator: "&").prefix(100).map { pair in
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            func decoded(_ text: Substring) -> Substring {
                let spaced = String(text.replacing("+", with: " "))
                return Substring(spaced.removingPercentEncoding ?? spaced)
            }
            return (decoded(parts[0]), parts.count > 1 ? decoded(parts[1]) : "")
        }
    }

    /// The bucket of a visitor, known by the random id of its cookie, on one link: FNV-1a of
    /// both, so that one visitor lands in unrelated buckets on different links.
    public static func bucket(visitorID: String, linkKey: String) -> Int {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in visitorID.utf8 + [0] + linkKey.utf8 {
            hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3
        }
        return Int(hash % 100)
    }
}

/// The client families the replica recognises (its user-agent rules name these, lower-case
/// here), which rules may ask for.
public enum ClientFamilies {
    public static let devices = ["mobile", "tablet", "desktop", "bot"]
    public static let systems = ["ios", "android", "windows", "macos", "chromeos", "linux", "other"]
    public static let browsers = [
        "edge", "opera", "samsung internet", "firefox", "chrome", "safari", "internet explorer", "other",
    ]
}

/// Why routing text is refused: what is out of range, for the person who sent it.
public struct RoutingProblem: Error, CustomStringConvertible {
    public let description: String

    init(_ description: String) { self.description = description }

    /// Refuses a key of the object that is not one of `Key`'s.
    static func refuseUnknownKeys<Key: CodingKey & CaseIterable>(
        _ decoder: any Decoder, _: Key.Type, in subject: String
    ) throws {
        if let unknown = UnknownKeys.first(in: decoder, knowing: Key.self) {
            throw RoutingProblem(
                "'\(unknown)' is not a field of \(subject); its fields: \(UnknownKeys.names(of: Key.self))")
        }
    }
}
