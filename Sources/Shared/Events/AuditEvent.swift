import Foundation
import SharedLinks

/// An event on `<ns>-audit`: one change made through the master (a link, an API key or a
/// domain created, changed or removed), who made it and in which request, written to the
/// outbox in the same transaction as the change. Keyed by its subject.
///
/// Wire format (JSON, one event per message):
/// `{"type":"audit","version":1,"event_id":"…","occurred_at":"2026-…Z","action":"link.created",
///   "subject":"abc","actor_key_id":"key_…","actor_key_name":"ci","request_id":"…"}`; the actor
/// is absent for a change made without a key (a command, or an API without keys), the request
/// id for one made outside a request.
public struct AuditEvent: Codable, Sendable, Equatable {
    /// The only event type on the audit topic.
    public enum Kind: String, Codable, Sendable, CaseIterable {
        case audit
    }

    /// What was done.
    public enum Action: String, Codable, Sendable, CaseIterable {
        case linkCreated = "link.created"
        case linkUpdated = "link.updated"
        case linkDeleted = "link.deleted"
        case keyCreated = "key.created"
        case keyUpdated = "key.updated"
        case keyRevoked = "key.revoked"
        case domainAdded = "domain.added"
        case domainUpdated = "domain.updated"
        case domainRemoved = "domain.removed"
    }

    /// The schema version this code writes and reads.
    public static let currentVersion = 1

    public var type: Kind
    public var version: Int
    public var eventID: UUID
    /// When the change was made.
    public var occurredAt: Date
    public var action: Action
    /// What was changed: a link's key (its code, or `domain/code`), a key's id, a domain's name.
    public var subject: String
    /// The id of the API key that made the change; nil without one.
    public var actorKeyID: String?
    /// That key's name when it made the change.
    public var actorKeyName: String?
    /// The id of the request (its `X-Request-ID`); nil outside a request.
    public var requestID: String?

    enum CodingKeys: String, CodingKey {
        case type, version, action, subject
        case eventID = "event_id"
        case occurredAt = "occurred_at"
        case actorKeyID = "actor_key_id"
        case actorKeyName = "actor_key_name"
        case requestID = "request_id"
    }

    public init(
        _ action: Action, subject: String, actorKeyID: String?, actorKeyName: String?, requestID: String?,
        at time: Date = Date()
    ) {
        self.type = .audit
        self.version = Self.currentVersion
        self.eventID = UUID()
        self.occurredAt = time
        self.action = action
        self.subject = subject
        self.actorKeyID = actorKeyID
        self.actorKeyName = actorKeyName
        self.requestID = requestID
    }
}

extension AuditEvent: VersionedEvent {
    public var rangeProblem: String? {
        func isText(_ text: String, _ limit: Int) -> Bool {
            (1...limit).contains(text.utf8.count)
                && !text.unicodeScalars.contains { $0.value < 0x20 || $0.value == 0x7F }
        }
        guard isText(subject, 300) else { return "'subject' is not 1-300 characters without control characters" }
        if let actorKeyID, !isText(actorKeyID, 64) { return "'actor_key_id' is not 1-64 characters" }
        if let actorKeyName, !isText(actorKeyName, 200) { return "'actor_key_name' is not 1-200 characters" }
        if let requestID, !isText(requestID, 128) { return "'request_id' is not 1-128 characters" }
        return nil
    }
}

extension EventCodec {
    /// Decodes an audit event of the version this code reads.
    public static func decodeAuditEvent(_ bytes: [UInt8]) throws(EventDecodingError) -> AuditEvent {
        try decode(bytes)
    }
}
