import Foundation
import SharedEvents

/// The rule that turns count events into exact totals, however often and in whatever order
/// they arrive: per (link, replica, epoch) only the highest running total counts, and a link's
/// clicks are the sum over its (replica, epoch) pairs. The breakdowns follow the same rule per
/// (link, dimension, value, bot, replica, epoch) and per (link, hour, bot, replica, epoch).
/// A link is named by its ``LinkAddress/key``.
///
/// The master folds each consumed batch with it before writing, and Postgres applies the same
/// rule across batches (`GREATEST` in the upsert, `sum` when reading).
struct ClickTally: Sendable, Equatable {
    /// Whose running total a count belongs to.
    struct Counter: Hashable, Sendable {
        /// The link's ``LinkAddress/key``.
        var linkKey: String
        var replicaID: String
        var replicaEpoch: String

        init(linkKey: String, replicaID: String, replicaEpoch: String) {
            self.linkKey = linkKey
            self.replicaID = replicaID
            self.replicaEpoch = replicaEpoch
        }
    }

    /// One running total of a breakdown: a counter's clicks of one kind with one value.
    struct Breakdown: Hashable, Sendable {
        var counter: Counter
        var dimension: ClickBreakdown.Dimension
        var value: String
        var bot: Bool
    }

    /// The highest total seen per counter.
    private(set) var highest: [Counter: Int64] = [:]
    /// The highest total seen per breakdown value (hours included).
    private(set) var breakdowns: [Breakdown: Int64] = [:]

    init() {}

    /// Takes one event into account: a total lower than or equal to one already seen changes nothing.
    mutating func record(_ event: ClickCountEvent) {
        let counter = Counter(linkKey: event.address.key, replicaID: event.replicaID, replicaEpoch: event.replicaEpoch)
        highest[counter] = max(highest[counter] ?? 0, event.total)
        for (breakdown, bot) in [(event.humans, false), (event.bots, true)] {
            for (dimension, counts) in breakdown?.values ?? [:] {
                for (value, total) in counts {
                    let key = Breakdown(counter: counter, dimension: dimension, value: value, bot: bot)
                    breakdowns[key] = max(breakdowns[key] ?? 0, total)
                }
            }
        }
    }
}
