import NIOConcurrencyHelpers

/// A clock that moves only when a test moves it: breakers and rate limiters take its `now`,
/// so their timing is tested without sleeping.
public final class ManualClock: Sendable {
    private let instant = NIOLockedValueBox(ContinuousClock.now)

    public init() {}

    /// The time now, as far as this clock is concerned.
    public var now: ContinuousClock.Instant { instant.withLockedValue { $0 } }

    /// Moves the clock forward.
    public func advance(by duration: Duration) { instant.withLockedValue { $0 += duration } }
}
