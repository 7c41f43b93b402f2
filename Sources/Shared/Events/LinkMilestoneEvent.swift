import Crypto
import Foundation
import SharedLinks

/// An event on `<ns>-milestones`: a link's clicks, summed by the master over every replica,
/// reached `milestone` (100, 1000, 10000, …), keyed by the link's ``LinkAddress/key``.
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
    /// The same for the same code and milestone (see ``eventID(code:milestone:)``): webhook
    /// receivers deduplicate by it.
    public var eventID: UUID
    /// When the master saw the total reach the milestone.
    public var occurredAt: Date
    /// The short code.
    public var code: String
    /// The link's domain; absent for the default domain.
    public var domain: String?
    /// The milestone reached.
    public var milestone: Int64
    /// The link's total clicks when it was reached (at least `milestone`).
    public var clicks: Int64

    enum CodingKeys: String, CodingKey {
        case type, version, code, domain, milestone, clicks
        case eventID = "event_id"
        case occurredAt = "occurred_at"
    }

    /// The event id of a link reaching `milestone`: the same every time it is computed, so that
    /// a milestone announced twice (a relay publishing again after a crash) is one event to
    /// receivers that deduplicate by `event_id`. A UUID of version 8 made of SHA-256 of
    /// `link.milestone:<key>:<milestone>` (the key is the code on the default domain).
    public static func eventID(_ address: LinkAddress, milestone: Int64) -> UUID {
        var bytes = Array(
            SHA256.hash(data: Array("\(Kind.milestone.rawValue):\(address.key):\(milestone)".utf8)).prefix(16))
        bytes[6] = (bytes[6] & 0x0F) | 0x80  // version 8
        bytes[8] = (bytes[8] & 0x3F) | 0x80  // RFC 9562 variant
        return UUID(
            uuid: (
                bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7], bytes[8], bytes[9],
                bytes[10], bytes[11], bytes[12], bytes[13], bytes[14], bytes[15]
            ))
    }

    public init(_ address: LinkAddress, milestone: Int64, clicks: Int64, at time: Date = Date()) {
        self.type = .milestone
        self.version = Self.currentVersion
        self.eventID = Self.eventID(address, milestone: milestone)
        self.occurredAt = time
        self.code = address.code
        self.domain = address.domain
        self.milestone = milestone
        self.clicks = clicks
    }

    /// The link that reached the milestone.
    public var address: LinkAddress { LinkAddress(domain: domain, code: code) }
}
