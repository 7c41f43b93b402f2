import Foundation

/// An event on `<ns>-milestones`: a link's clicks, summed by the master over every replica,
/// reached `milestone` (100, 1000, 10000, …), keyed by the code.
///
/// Wire format (JSON, one event per message):
/// `{"type":"link.milestone","version":1,"event_id":"…","occurred_at":"2026-…Z","code":"abc",
///   "milestone":100,"clicks":104}`.
public struct LinkMilestoneEvent: Codable, Sendable, Equatable {
    /// The only event type on the milestones topic.
    public enum Kind: String, Codable, Sendable, CaseIterable {
        case milestone = "link.milestone"
    }

    /// The schema version this code writes and reads.
    public static let currentVersion = 1

    /// The milestones: 100 and every tenfold of it.
    public static func milestones(crossedFrom old: Int64, to new: Int64) -> [Int64] {
        var found: [Int64] = []
        var milestone: Int64 = 100
        while milestone <= new {
            if milestone > old { found.append(milestone) }
            guard milestone <= Int64.max / 10 else { break }
            milestone *= 10
        }
        return found
    }

    public var type: Kind
    public var version: Int
    /// Unique per event: webhook receivers deduplicate by it.
    public var eventID: UUID
    /// When the master saw the total reach the milestone.
    public var occurredAt: Date
    /// The short code (also the message key).
    public var code: String
    /// The milestone reached.
    public var milestone: Int64
    /// The link's total clicks when it was reached (at least `milestone`).
    public var clicks: Int64

    enum CodingKeys: String, CodingKey {
        case type, version, code, milestone, clicks
        case eventID = "event_id"
        case occurredAt = "occurred_at"
    }

    public init(code: String, milestone: Int64, clicks: Int64, at time: Date = Date(), eventID: UUID = UUID()) {
        self.type = .milestone
        self.version = Self.currentVersion
        self.eventID = eventID
        self.occurredAt = time
        self.code = code
        self.milestone = milestone
        self.clicks = clicks
    }
}
