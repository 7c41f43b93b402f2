/// How the project retries a failed step: exponential backoff from ``initialDelay``, doubled
/// after each failure up to ``maximumDelay``, with full jitter (each wait drawn between zero and
/// its delay, so that clients failing together do not retry together). The loops stay with
/// their callers, who know when to give up; the schedule is this one.
public struct RetryPolicy: Sendable, Equatable {
    /// The delay before the first retry.
    public var initialDelay: Duration
    /// The longest delay, however many failures came before.
    public var maximumDelay: Duration

    /// A policy from `initialDelay` up to `maximumDelay`.
    public init(initialDelay: Duration, maximumDelay: Duration) {
        self.initialDelay = initialDelay
        self.maximumDelay = maximumDelay
    }

    /// The delay before retry `retry` (1 for the first): ``initialDelay`` doubled `retry - 1`
    /// times, at most ``maximumDelay``.
    public func delay(beforeRetry retry: Int) -> Duration {
        var delay = initialDelay
        for _ in 1..<max(1, retry) {
            guard delay < maximumDelay else { break }
            delay *= 2
        }
        return min(delay, maximumDelay)
    }

    /// The wait before retry `retry`: the share `fraction` (0...1, random by default) of its delay.
    public func wait(beforeRetry retry: Int, fraction: Double = .random(in: 0...1)) -> Duration {
        delay(beforeRetry: retry) * min(max(fraction, 0), 1)
    }

    /// Sleeps the wait before retry `retry`; throws `CancellationError` when the task is cancelled.
    public func sleep(beforeRetry retry: Int) async throws {
        try await Task.sleep(for: wait(beforeRetry: retry))
    }
}
