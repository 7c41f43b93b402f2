import Foundation
import SharedJSON
import SharedLinks

/// An event on `<ns>-visits`: one visit a replica answered, with the same dimensions the click
/// aggregates keep and nothing more personal: no address, no full user agent, the referrer's
/// host alone.
///
/// Wire format (JSON, one event per message, keys sorted):
/// `{"bot":false,"browser":"chrome","code":"abc","country":"DE","device":"desktop",
///   "event_id":"…","occurred_at":"2026-…Z","os":"windows","outcome":302,"referrer":"news.example",
///   "replica_id":"a","type":"visit","version":1}`, with `domain` for a link on another domain
/// than the default one, and `rule` and `variant` when the link's routing decided the visit.
/// Its key is the link's ``LinkAddress/key``, or ``orphanKey`` for a visit that found no link.
public struct VisitEvent: Codable, Sendable, Equatable {
    /// The only event type on the visits topic.
    public enum Kind: String, Codable, Sendable, CaseIterable {
        case visit
    }

    /// The schema version this code writes and reads.
    public static let currentVersion = 1

    /// The key of the visits that found no link: `404`s and visits of a domain's root. No link's
    /// key can be it.
    public static let orphanKey = "/"

    /// Longest requested code a visit records (a longer one is cut).
    public static let maximumCodeLength = 64

    public var type: Kind
    public var version: Int
    /// Unique per visit.
    public var eventID: UUID
    /// When the replica answered it.
    public var occurredAt: Date
    /// The link's domain (as stored); absent for the default domain.
    public var domain: String?
    /// The requested code, as far as ``maximumCodeLength`` printable ASCII characters; empty
    /// for a visit of the domain's root.
    public var code: String
    /// The status the link answered with: the redirect's (301, 302, 303 after a password form,
    /// 307, 308), `200` for a password form, `403` for a wrong password, `429` for too many
    /// tries, `404` for an unknown code, `410` for a deleted or expired link (also when a
    /// fallback page stood in for the `404` or `410`).
    public var outcome: Int
    /// The redirect rule that decided the visit (its number), if one did.
    public var rule: Int?
    /// The split's variant the visitor got (its index), if the link splits.
    public var variant: Int?
    /// ISO country code, or `unknown`.
    public var country: String
    /// `mobile`, `tablet`, `desktop`, `bot` or `other`.
    public var device: String
    public var browser: String
    public var os: String
    /// The referrer's host, `direct` without one.
    public var referrer: String
    /// Whether the user agent is a known bot's.
    public var bot: Bool
    /// The replica that answered.
    public var replicaID: String

    enum CodingKeys: String, CodingKey {
        case type, version, domain, code, outcome, rule, variant, country, device, browser, os, referrer, bot
        case eventID = "event_id"
        case occurredAt = "occurred_at"
        case replicaID = "replica_id"
    }

    public init(
        domain: String?, code: String, outcome: Int, rule: Int? = nil, variant: Int? = nil, country: String,
        device: String, browser: String, os: String, referrer: String, bot: Bool, replicaID: String,
        at time: Date = Date(), eventID: UUID = .newEventID()
    ) {
        self.type = .visit
        self.version = Self.currentVersion
        self.eventID = eventID
        self.occurredAt = time
        self.domain = domain?.isEmpty == false ? domain : nil
        self.code = code
        self.outcome = outcome
        self.rule = rule
        self.variant = variant
        self.country = country
        self.device = device
        self.browser = browser
        self.os = os
        self.referrer = referrer
        self.bot = bot
        self.replicaID = replicaID
    }

    /// Whether the visit found no link: a `404`, or a domain's root.
    public var isOrphan: Bool { outcome == 404 || code.isEmpty }

    /// The message key: the link's key, or ``orphanKey``.
    public var key: String { isOrphan ? Self.orphanKey : LinkAddress(domain: domain, code: code).key }

    /// A requested path's code as a visit records it: at most ``maximumCodeLength`` bytes, each
    /// byte outside printable ASCII written `?`.
    public static func recordedCode(_ requested: Substring) -> String {
        String(
            decoding: requested.utf8.prefix(maximumCodeLength).map { $0 > 0x20 && $0 < 0x7F ? $0 : UInt8(ascii: "?") },
            as: UTF8.self)
    }
}

extension VisitEvent: VersionedEvent {
    public var rangeProblem: String? {
        guard code.utf8.count <= Self.maximumCodeLength, code.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
            return "'code' is not at most \(Self.maximumCodeLength) printable ASCII characters"
        }
        if !isOrphan, !ShortCode.isWellFormed(code) { return "'code' of a found link is not a short code" }
        if let domain, (try? DomainName.normalized(domain)) != domain {
            return "'domain' is not a normalised host name"
        }
        guard (100...599).contains(outcome) else { return "'outcome' is not an HTTP status" }
        if let rule, !(1...LinkRouting.maximumRules).contains(rule) { return "'rule' is out of range" }
        if let variant, !(0..<WeightedTarget.variantCounts.upperBound).contains(variant) {
            return "'variant' is out of range"
        }
        for value in [country, device, browser, os, referrer]
        where value.isEmpty || value.utf8.count > 255 || value.utf8.contains(where: { $0 < 0x20 || $0 == 0x7F }) {
            return "a dimension is empty, longer than 255 bytes or has control characters"
        }
        guard ShortCode.isWellFormed(replicaID) else { return "'replica_id' is not 1-64 of A-Z a-z 0-9 _ -" }
        return nil
    }
}

extension EventCodec {
    /// A visit as compact JSON, written by hand (``JSONWriter``): the same bytes as the generic
    /// encoder writes, at a fraction of the cost, since every redirect writes one.
    public static func encode(_ event: VisitEvent) -> [UInt8] {
        var json = JSONWriter()
        json.open()
        json.field("bot", event.bot)
        json.field("browser", event.browser)
        json.field("code", event.code)
        json.field("country", event.country)
        json.field("device", event.device)
        json.field("domain", event.domain)
        json.field("event_id", event.eventID)
        json.field("occurred_at", event.occurredAt)
        json.field("os", event.os)
        json.field("outcome", Int64(event.outcome))
        json.field("referrer", event.referrer)
        json.field("replica_id", event.replicaID)
        json.field("rule", event.rule.map(Int64.init))
        json.field("type", event.type.rawValue)
        json.field("variant", event.variant.map(Int64.init))
        json.field("version", Int64(event.version))
        json.close()
        return json.bytes
    }

    /// Decodes a visit of the version this code reads.
    public static func decodeVisitEvent(_ bytes: [UInt8]) throws(EventDecodingError) -> VisitEvent {
        try decode(bytes)
    }
}
