import Foundation
import SharedLinks

/// An event on `<ns>-counts`: one replica's running total of clicks for one link, keyed by its
/// ``LinkAddress/key``.
///
/// Wire format (JSON, one event per message):
/// `{"type":"clicks.counted","version":1,"event_id":"…","occurred_at":"2026-…Z","code":"abc",
///   "replica_id":"a","replica_epoch":"1763…-3fa9c1d2","total":300}`; `domain` beside `code`
/// names a link on a domain other than the default one.
/// `total` is the replica's count for the code since `replica_epoch` began (a new epoch starts
/// whenever the replica's Redis lost its data), never a delta: the master keeps the highest
/// total per (code, replica, epoch), so a repeated, late or lost-then-resent event is harmless.
/// `humans` and `bots` break the total down (``ClickBreakdown``) the same way: running totals
/// per (code, dimension, value, replica, epoch), separately for human and bot clicks.
public struct ClickCountEvent: Codable, Sendable, Equatable {
    /// The only event type on the counts topic.
    public enum Kind: String, Codable, Sendable, CaseIterable {
        case counted = "clicks.counted"
    }

    /// The schema version this code writes and reads.
    public static let currentVersion = 1

    /// Largest running total (and breakdown count) an event may carry: 10^12 clicks, as many as
    /// a link's `max_clicks` allows. The master sums a link's totals over replicas and epochs in
    /// 64 bits; bounded so, millions of epochs still fit, and no event can overflow the sum.
    public static let maximumTotal: Int64 = 1_000_000_000_000

    public var type: Kind
    public var version: Int
    /// Unique per event, for deduplication and tracing.
    public var eventID: UUID
    /// When the replica read the total.
    public var occurredAt: Date
    /// The short code.
    public var code: String
    /// The link's domain; absent for the default domain.
    public var domain: String?
    /// The replica that counted the clicks.
    public var replicaID: String
    /// Which life of that replica's Redis the total belongs to.
    public var replicaEpoch: String
    /// The replica's running total for the code within the epoch.
    public var total: Int64
    /// Where the human clicks of that total came from (absent from older events).
    public var humans: ClickBreakdown?
    /// Where the bot clicks of that total came from (absent from older events).
    public var bots: ClickBreakdown?

    enum CodingKeys: String, CodingKey {
        case type, version, code, domain, total, humans, bots
        case eventID = "event_id"
        case occurredAt = "occurred_at"
        case replicaID = "replica_id"
        case replicaEpoch = "replica_epoch"
    }

    public init(
        _ address: LinkAddress, replicaID: String, replicaEpoch: String, total: Int64, humans: ClickBreakdown? = nil,
        bots: ClickBreakdown? = nil, at time: Date = Date(), eventID: UUID = .newEventID()
    ) {
        self.humans = humans
        self.bots = bots
        self.type = .counted
        self.version = Self.currentVersion
        self.eventID = eventID
        self.occurredAt = time
        self.code = address.code
        self.domain = address.domain
        self.replicaID = replicaID
        self.replicaEpoch = replicaEpoch
        self.total = total
    }

    /// The link the clicks were counted on.
    public var address: LinkAddress { LinkAddress(domain: domain, code: code) }
}
