import NIOConcurrencyHelpers

/// Where the broker stored an acknowledged message.
public struct KafkaDeliveryReport: Sendable, Equatable {
    /// The partition the message went to.
    public let partition: Int32
    /// The message's offset in that partition.
    public let offset: Int64
}

/// The pending outcome of one produced message: completed by the producer's poll loop from
/// librdkafka's delivery report, awaited by whoever needs to know the broker has it.
public final class KafkaDelivery: Sendable {
    private enum State {
        case pending([CheckedContinuation<KafkaDeliveryReport, any Error>])
        case done(Result<KafkaDeliveryReport, KafkaError>)
    }

    private let state = NIOLockedValueBox(State.pending([]))

    init() {}

    /// Waits until the broker acknowledged the message (or delivery failed for good).
    public func value() async throws -> KafkaDeliveryReport {
        try await withCheckedThrowingContinuation { continuation in
            let finished: Result<KafkaDeliveryReport, KafkaError>? = state.withLockedValue { state in
                switch state {
                case .pending(var waiting):
                    waiting.append(continuation)
                    state = .pending(waiting)
                    return nil
                case .done(let result):
                    return result
                }
            }
            if let finished { continuation.resume(with: finished) }
        }
    }

    /// The outcome, if the delivery report has arrived.
    public var result: Result<KafkaDeliveryReport, KafkaError>? {
        state.withLockedValue { state in
            if case .done(let result) = state { return result }
            return nil
        }
    }

    /// Records the outcome once and resumes every waiter outside the lock.
    func complete(_ result: Result<KafkaDeliveryReport, KafkaError>) {
        let waiting: [CheckedContinuation<KafkaDeliveryReport, any Error>] = state.withLockedValue { state in
            guard case .pending(let waiting) = state else { return [] }
            state = .done(result)
            return waiting
        }
        for continuation in waiting { continuation.resume(with: result) }
    }
}
