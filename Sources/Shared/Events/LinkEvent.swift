import Foundation
import SharedLinks

/// An event on `<ns>-links`: one per change of a link, keyed by its ``LinkAddress/key`` (the
/// code on the default domain, `<domain>/<code>` elsewhere).
///
/// Wire format (JSON, one event per message):
/// `{"type":"link.created","version":1,"event_id":"…","occurred_at":"2026-…Z","code":"abc",
///   "domain":"go.acme.com","revision":1,"url":"https://…","expires_at":null,"tags":["docs"]}`.
/// `domain` is absent for the default domain (and in every event written before domains);
/// `redirect_type`, `forward_query` and `crawlable` only when they differ from the defaults (302,
/// `true`, `false`), as in every event written before they existed.
/// `routing` (``LinkRouting``: rules and splits) only when the link has any; `password_hash`
/// (argon2id, never the password) only when a visitor must give a password.
/// `link.created` and `link.updated` carry the link's whole state (url, expiry, visit limit,
/// tags, routing), so the latest event of a code is all a consumer needs.
/// `revision` grows with every change of one code, so consumers keep the highest revision and
/// ignore older or repeated events: applying an event twice, or late, changes nothing.
public struct LinkEvent: Codable, Sendable, Equatable {
    /// What happened to the link.
    public enum Kind: String, Codable, Sendable, CaseIterable {
        case created = "link.created"
        case deleted = "link.deleted"
        /// The link's target, expiry, visit limit or tags were edited.
        case updated = "link.updated"
        /// The link's visits, summed over every replica by the master, reached `max_clicks`.
        case exhausted = "link.exhausted"
    }

    /// The schema version this code writes and reads.
    public static let currentVersion = 1

    public var type: Kind
    public var version: Int
    /// Unique per event, for deduplication and tracing.
    public var eventID: UUID
    /// When the change was committed on the master.
    public var occurredAt: Date
    /// The short code.
    public var code: String
    /// The link's domain; absent for the default domain.
    public var domain: String?
    /// 1 for creation, one more for every later change of the same code.
    public var revision: Int64
    /// The target URL (present on `link.created`).
    public var url: String?
    /// When the link stops redirecting, if ever.
    public var expiresAt: Date?
    /// How many visits the link allows, if limited (on `link.created` and `link.updated`).
    public var maxClicks: Int64?
    /// The link's tags (on `link.created` and `link.updated`; absent from older events).
    public var tags: [String]?
    /// `true` on a `link.updated` of a link whose visits are still used up: it keeps answering
    /// `410`. Absent otherwise.
    public var exhausted: Bool?
    /// The redirect's status when not 302 (on `link.created` and `link.updated`).
    public var redirectType: Int?
    /// `false` when the visitor's query string is not carried over; absent means it is.
    public var forwardQuery: Bool?
    /// `true` when search engines may index the link; absent means they may not.
    public var crawlable: Bool?
    /// The link's campaign parameters as the query text added to its target
    /// (``UTMParameters/query``); absent when it has none.
    public var utm: String?
    /// The link's rules and split (on `link.created` and `link.updated`); absent when it has none.
    public var routing: LinkRouting?
    /// The argon2id hash of the password a visitor must give (on `link.created` and
    /// `link.updated`); absent when none is needed. Webhook receivers never get it.
    public var passwordHash: String?
    /// `true` when `master backfill` announces the link again (its state, not a change): the
    /// notifier sends no webhook for it. Absent on the wire otherwise.
    public var reannounced: Bool?

    enum CodingKeys: String, CodingKey {
        case type, version, code, domain, revision, url, tags, exhausted, reannounced, crawlable, utm, routing
        case eventID = "event_id"
        case occurredAt = "occurred_at"
        case expiresAt = "expires_at"
        case maxClicks = "max_clicks"
        case redirectType = "redirect_type"
        case forwardQuery = "forward_query"
        case passwordHash = "password_hash"
    }

    /// A `link.created` event (`revision` is above 1 only when a backfill re-announces a link).
    public static func created(
        _ address: LinkAddress, url: String, expiresAt: Date?, maxClicks: Int64? = nil, tags: [String] = [],
        redirect: RedirectOptions = .standard, utm: UTMParameters? = nil, routing: LinkRouting = .none,
        passwordHash: String? = nil, revision: Int64 = 1, at time: Date = Date(), eventID: UUID = .newEventID()
    ) -> LinkEvent {
        var event = LinkEvent(
            type: .created, version: currentVersion, eventID: eventID, occurredAt: time, code: address.code,
            domain: address.domain, revision: revision, url: url, expiresAt: expiresAt, maxClicks: maxClicks,
            tags: tags)
        event.redirect = redirect
        event.utm = utm.map(\.query).flatMap { $0.isEmpty ? nil : $0 }
        event.routing = routing.isEmpty ? nil : routing
        event.passwordHash = passwordHash
        return event
    }

    /// A `link.updated` event: the link's state after an edit. `exhausted` says its visits are
    /// still used up.
    public static func updated(
        _ address: LinkAddress, revision: Int64, url: String, expiresAt: Date?, maxClicks: Int64?, tags: [String],
        redirect: RedirectOptions = .standard, utm: UTMParameters? = nil, routing: LinkRouting = .none,
        passwordHash: String? = nil, exhausted: Bool = false, at time: Date = Date(), eventID: UUID = .newEventID()
    ) -> LinkEvent {
        var event = LinkEvent(
            type: .updated, version: currentVersion, eventID: eventID, occurredAt: time, code: address.code,
            domain: address.domain, revision: revision, url: url, expiresAt: expiresAt, maxClicks: maxClicks,
            tags: tags, exhausted: exhausted ? true : nil)
        event.redirect = redirect
        event.utm = utm.map(\.query).flatMap { $0.isEmpty ? nil : $0 }
        event.routing = routing.isEmpty ? nil : routing
        event.passwordHash = passwordHash
        return event
    }

    /// A `link.deleted` event.
    public static func deleted(
        _ address: LinkAddress, revision: Int64, at time: Date = Date(), eventID: UUID = .newEventID()
    ) -> LinkEvent {
        LinkEvent(
            type: .deleted, version: currentVersion, eventID: eventID, occurredAt: time, code: address.code,
            domain: address.domain, revision: revision, url: nil, expiresAt: nil)
    }

    /// A `link.exhausted` event: the link's visits reached its `max_clicks`.
    public static func exhausted(
        _ address: LinkAddress, revision: Int64, at time: Date = Date(), eventID: UUID = .newEventID()
    ) -> LinkEvent {
        LinkEvent(
            type: .exhausted, version: currentVersion, eventID: eventID, occurredAt: time, code: address.code,
            domain: address.domain, revision: revision, url: nil, expiresAt: nil)
    }

    /// The event as webhook receivers get it: without the password's hash.
    public var forReceivers: LinkEvent {
        var event = self
        event.passwordHash = nil
        return event
    }

    /// Where the link lives; its ``LinkAddress/key`` is the event's message key.
    public var address: LinkAddress { LinkAddress(domain: domain, code: code) }

    /// How the link redirects, from the three fields that are absent at their defaults (an
    /// unknown status, which the codec refuses, reads as 302).
    public var redirect: RedirectOptions {
        get {
            RedirectOptions(
                status: redirectType.flatMap(RedirectOptions.Status.init(rawValue:)) ?? .found,
                forwardQuery: forwardQuery ?? true, crawlable: crawlable ?? false)
        }
        set {
            redirectType = newValue.status == .found ? nil : newValue.status.rawValue
            forwardQuery = newValue.forwardQuery ? nil : false
            crawlable = newValue.crawlable ? true : nil
        }
    }
}
