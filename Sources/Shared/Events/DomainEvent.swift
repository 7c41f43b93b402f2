import Foundation
import SharedLinks

/// An event on `<ns>-links` about a short domain rather than a link: the domain was added or its
/// fallback pages changed (`domain.updated`, its whole state), or it was removed
/// (`domain.deleted`). Replicas learn from them which `Host` names a domain and where its
/// root, an unknown code and a gone link redirect.
///
/// Keyed `@<domain>` (`@` alone for the default domain): no link key starts with `@`, so
/// compaction keeps each domain's latest state beside the links, and consumers tell the two
/// kinds of message apart by the key alone (``isDomainKey(_:)``).
///
/// Wire format: `{"type":"domain.updated","version":1,"event_id":"…","occurred_at":"2026-…Z",
///   "domain":"go.acme.com","revision":2,"root_url":"https://acme.com/","not_found_url":null,
///   "expired_url":null}`; `domain` is absent for the default domain.
public struct DomainEvent: Codable, Sendable, Equatable {
    /// What happened to the domain.
    public enum Kind: String, Codable, Sendable, CaseIterable {
        case updated = "domain.updated"
        case deleted = "domain.deleted"
    }

    /// The schema version this code writes and reads.
    public static let currentVersion = 1

    public var type: Kind
    public var version: Int
    /// Unique per event, for deduplication and tracing.
    public var eventID: UUID
    /// When the change was committed on the master.
    public var occurredAt: Date
    /// The domain; absent for the default domain.
    public var domain: String?
    /// Grows with every change of the domain: replicas keep the highest.
    public var revision: Int64
    /// Where the domain's root (`/`) redirects, if anywhere.
    public var rootURL: String?
    /// Where an unknown code redirects, if anywhere.
    public var notFoundURL: String?
    /// Where an expired, deleted or used-up link redirects, if anywhere.
    public var expiredURL: String?

    enum CodingKeys: String, CodingKey {
        case type, version, domain, revision
        case eventID = "event_id"
        case occurredAt = "occurred_at"
        case rootURL = "root_url"
        case notFoundURL = "not_found_url"
        case expiredURL = "expired_url"
    }

    /// A domain's state after it was added or changed.
    public static func updated(
        _ domain: String?, revision: Int64, rootURL: String?, notFoundURL: String?, expiredURL: String?,
        at time: Date = Date(), eventID: UUID = .newEventID()
    ) -> DomainEvent {
        DomainEvent(
            type: .updated, version: currentVersion, eventID: eventID, occurredAt: time, domain: domain,
            revision: revision, rootURL: rootURL, notFoundURL: notFoundURL, expiredURL: expiredURL)
    }

    /// A domain was removed.
    public static func deleted(
        _ domain: String, revision: Int64, at time: Date = Date(), eventID: UUID = .newEventID()
    ) -> DomainEvent {
        DomainEvent(
            type: .deleted, version: currentVersion, eventID: eventID, occurredAt: time, domain: domain,
            revision: revision)
    }

    /// The message key of `domain`'s events.
    public static func messageKey(_ domain: String?) -> String { "@" + (domain ?? "") }

    /// Whether a message of the links topic with this key is a domain's event.
    public static func isDomainKey(_ key: [UInt8]?) -> Bool { key?.first == UInt8(ascii: "@") }
}

extension EventCodec {
    /// Decodes a domain event of the version this code reads.
    public static func decodeDomainEvent(_ bytes: [UInt8]) throws(EventDecodingError) -> DomainEvent {
        try decode(bytes)
    }
}

extension DomainEvent: VersionedEvent {
    public var rangeProblem: String? {
        if let domain, (try? DomainName.normalized(domain)) != domain {
            return "'domain' is not a normalised host name"
        }
        guard revision >= 1 else { return "'revision' is below 1" }
        for (name, url) in [("root_url", rootURL), ("not_found_url", notFoundURL), ("expired_url", expiredURL)] {
            guard let url else { continue }
            if url.isEmpty || url.utf8.count > 8192 || url.utf8.contains(where: { $0 < 0x21 || $0 >= 0x7F })
                || !LinkEvent.isHTTP(url)
            {
                return "'\(name)' is not an http(s) URL of printable ASCII up to 8192 bytes"
            }
        }
        return nil
    }
}
