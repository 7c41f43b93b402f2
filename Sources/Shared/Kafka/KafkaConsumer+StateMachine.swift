extension KafkaConsumer {
    /// Everything about a running consumer that changes, kept behind one lock: whether it is
    /// stopping, a rewind its handler asked for, and how far it still has to read to be caught
    /// up. Methods only decide; the consumer carries out what they return outside the lock.
    struct StateMachine {
        /// Whether a graceful shutdown or cancellation asked the consumer to stop.
        private(set) var isStopping = false
        /// Why the handler's state was lost, until the consumer rewinds.
        private var pendingRewind: String?
        /// Partition → offset (exclusive) it must reach before the consumer counts as caught up.
        private var remaining: [Int32: Int64] = [:]
        /// Whether every assigned partition was read up to the end it had when assigned, and the
        /// handler's ``KafkaConsumerSettings/Assignment/allPartitions(topic:startOffsets:caughtUp:)``
        /// step, if any, has run since.
        private(set) var isCaughtUp = false
        /// Partition → low watermark, for partitions read from the beginning that no longer start at 0.
        private(set) var missingHistory: [Int32: Int64] = [:]

        /// What the consume loop does next.
        enum Step: Equatable {
            case stop
            case rewind(reason: String)
            case poll
        }

        /// Whether a cancellation asked the close to give up on leaving the group.
        private(set) var isCloseAbandoned = false

        mutating func stop(abandoningClose: Bool = false) {
            isStopping = true
            isCloseAbandoned = isCloseAbandoned || abandoningClose
        }

        /// Asks for a rewind; the first reason wins until it is carried out.
        mutating func requestRewind(reason: String) { pendingRewind = pendingRewind ?? reason }

        /// The next step of the loop; a pending rewind is handed out once.
        mutating func nextStep() -> Step {
            if isStopping { return .stop }
            if let reason = pendingRewind {
                pendingRewind = nil
                return .rewind(reason: reason)
            }
            return .poll
        }

        /// Whether a failing handler should stop retrying: the consumer is stopping, or a rewind
        /// will re-deliver its messages anyway.
        var abandonsRetries: Bool { isStopping || pendingRewind != nil }

        /// A group subscription counts as caught up at once.
        mutating func subscribed() {
            remaining = [:]
            missingHistory = [:]
            isCaughtUp = true
        }

        /// Partitions were assigned, each to be read up to `remaining[partition]`; returns whether
        /// they are read to that end already (nothing remains).
        mutating func assigned(remaining: [Int32: Int64], missingHistory: [Int32: Int64]) -> Bool {
            self.remaining = remaining
            self.missingHistory = missingHistory
            isCaughtUp = false
            return remaining.isEmpty
        }

        /// Messages up to `nextOffsets` (partition → offset after the last applied) were applied;
        /// returns whether they read the last remaining partition to its end.
        mutating func applied(nextOffsets: [PartitionKey: Int64]) -> Bool {
            guard !remaining.isEmpty else { return false }
            for (key, next) in nextOffsets {
                guard let target = remaining[key.partition], next >= target else { continue }
                remaining[key.partition] = nil
            }
            return remaining.isEmpty
        }

        /// The partitions are read to their end and the handler's caught-up step has run.
        mutating func caughtUp() { isCaughtUp = true }
    }
}
