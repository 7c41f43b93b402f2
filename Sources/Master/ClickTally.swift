import SharedEvents
/// The rule that turns count events into exact totals, however often and in whatever order
/// they arrive: per (code, replica, epoch) only the highest running total counts, and a link's
/// clicks are the sum over its (replica, epoch) pairs.
///
/// The master folds each consumed batch with it before writing, and Postgres applies the same
/// rule across batches (`GREATEST` in the upsert, `sum` when reading).
struct ClickTally: Sendable, Equatable {
    /// Whose running total a count belongs to.
    struct Counter: Hashable, Sendable {
        var code: String
        var replicaID: String
        var replicaEpoch: String

        init(code: String, replicaID: String, replicaEpoch: String) {
            self.code = code
            self.replicaID = replicaID
            self.replicaEpoch = replicaEpoch
        }
    }

    /// The highest total seen per counter.
    private(set) var highest: [Counter: Int64] = [:]

    init() {}

    /// Takes one event into account: a total lower than or equal to one already seen changes nothing.
    mutating func record(_ event: ClickCountEvent) {
        let counter = Counter(code: event.code, replicaID: event.replicaID, replicaEpoch: event.replicaEpoch)
        highest[counter] = max(highest[counter] ?? 0, event.total)
    }
}
