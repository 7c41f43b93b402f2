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
    private typealias Waiter = CheckedContinuation<KafkaDeliveryReport, any Error>

    private struct State {
        var result: Result<KafkaDeliveryReport, KafkaError>?
        var waiters: [Int: Waiter] = [:]
        var nextWaiter = 0
    }

    private let state = NIOLockedValueBox(State())

    init() {}

    /// Waits until the broker acknowledged the message (or delivery failed for good).
    /// Cancelling the waiting task stops the wait (throwing `CancellationError`), not the delivery.
    public func value() async throws -> KafkaDeliveryReport {
        // Answered already (as most of a batch are once its first is): no suspension, which
        // would send the task through the executor's queue once per message.
        if let result = state.withLockedValue({ $0.result }) { return try result.get() }
        let id = state.withLockedValue { state in
            defer { state.nextWaiter += 1 }
            return state.nextWaiter
        }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: Waiter) in
                let finished: Result<KafkaDeliveryReport, any Error>? = state.withLockedValue { state in
                    if let result = state.result { return result.mapError { $0 } }
                    if Task.isCancelled { return .failure(CancellationError()) }
                    state.waiters[id] = continuation
                    return nil
                }
                if let finished { continuation.resume(with: finished) }
            }
        } onCancel: {
            let waiter = state.withLockedValue { $0.waiters.removeValue(forKey: id) }
            waiter?.resume(throwing: CancellationError())
        }
    }

    /// The outcome, if the delivery report has arrived.
    public var result: Result<KafkaDeliveryReport, KafkaError>? {
        state.withLockedValue { $0.result }
    }

    /// Records the outcome once and resumes every waiter outside the lock.
    func complete(_ result: Result<KafkaDeliveryReport, KafkaError>) {
        let waiters: [Waiter] = state.withLockedValue { state in
            guard state.result == nil else { return [] }
            state.result = result
            defer { state.waiters = [:] }
            return Array(state.waiters.values)
        }
        for waiter in waiters { waiter.resume(with: result) }
    }
}
