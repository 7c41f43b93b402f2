import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// The operation took longer than allowed.
public struct TimeoutError: Error, CustomStringConvertible {
    public let duration: Duration
    public init(duration: Duration) { self.duration = duration }
    public var description: String { "timed out after \(duration)" }
}

/// Runs `operation`, throwing ``TimeoutError`` when it outlasts `duration`.
///
/// The answer comes at the deadline even if the operation ignores cancellation (a connection
/// attempt to a host that does not answer, a blocking read): the operation is cancelled and left
/// to finish on its own, and its late result is dropped. Cancelling the caller cancels it too.
/// The timer is an event loop's scheduled task, not a sleeping task: `Task.sleep` goes through
/// Dispatch's timer thread, which cost a fifth of the master's CPU when every create slept.
@discardableResult
public func withTimeout<Result: Sendable>(
    _ duration: Duration, _ operation: @escaping @Sendable () async throws -> Result
) async throws -> Result {
    let race = TimeoutRace<Result>()
    return try await withTaskCancellationHandler {
        try await withCheckedThrowingContinuation { continuation in
            race.start(continuation: continuation, duration: duration, operation: operation)
        }
    } onCancel: {
        race.finish(.failure(CancellationError()))
    }
}

/// The operation and the timer of one ``withTimeout(_:_:)``: whichever finishes first answers.
private final class TimeoutRace<Value: Sendable>: Sendable {
    private struct State {
        var continuation: CheckedContinuation<Value, any Error>?
        var outcome: Result<Value, any Error>?
        var work: Task<Void, Never>?
        var timer: Scheduled<Void>?
    }

    private let state = NIOLockedValueBox(State())

    func start(
        continuation: CheckedContinuation<Value, any Error>, duration: Duration,
        operation: @escaping @Sendable () async throws -> Value
    ) {
        let early: Result<Value, any Error>? = state.withLockedValue { state in
            if let outcome = state.outcome { return outcome }
            state.continuation = continuation
            return nil
        }
        if let early {
            continuation.resume(with: early)
            return
        }
        let body: @concurrent @Sendable () async -> Void = {
            do {
                self.finish(.success(try await operation()))
            } catch {
                self.finish(.failure(error))
            }
        }
        // Called on an event loop (an HTTP handler), the work stays on it: no hand-off to
        // another thread and back.
        let current = MultiThreadedEventLoopGroup.currentEventLoop
        let work =
            current.map { Task(executorPreference: EventLoopTaskExecutor($0), operation: body) }
            ?? Task(operation: body)
        let loop = current ?? MultiThreadedEventLoopGroup.singleton.next()
        let timer = loop.scheduleTask(in: TimeAmount(duration)) {
            self.finish(.failure(TimeoutError(duration: duration)))
        }
        let finished = state.withLockedValue { state in
            state.work = work
            state.timer = timer
            return state.outcome != nil
        }
        if finished {
            work.cancel()
            timer.cancel()
        }
    }

    /// Records the first outcome, resumes the caller and cancels whatever still runs.
    func finish(_ outcome: Result<Value, any Error>) {
        let first: State? = state.withLockedValue { state in
            guard state.outcome == nil else { return nil }
            state.outcome = outcome
            defer { state = State(outcome: outcome) }
            return state
        }
        guard let first else { return }
        first.work?.cancel()
        first.timer?.cancel()
        first.continuation?.resume(with: outcome)
    }
}

extension Duration {
    /// The duration in seconds, as a floating-point number (for rates, logs and metrics).
    public var inSeconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
