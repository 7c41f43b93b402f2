import Logging
import Metrics
import NIOConcurrencyHelpers

/// Guards calls to one dependency (Postgres, a Redis, Kafka, a webhook): while the dependency
/// fails, callers fail fast instead of piling up, and the dependency gets room to recover.
///
/// - **Closed**: calls go through. It opens when the failure rate over the last
///   ``Settings/windowSize`` calls reaches ``Settings/failureRateThreshold`` (once at least
///   ``Settings/minimumCalls`` were made), or after ``Settings/consecutiveFailures`` failures in a row.
/// - **Open**: calls fail at once with ``CircuitOpenError`` for ``Settings/openDuration``.
/// - **Half-open**: up to ``Settings/halfOpenProbes`` calls go through at once; that many
///   successes close it, one failure opens it again.
///
/// Every call is bounded by ``Settings/callTimeout`` (or by the client's own timeouts); a timeout
/// counts as a failure. A ``CallerFault`` (such as an ``APIError``) thrown inside a call, and any
/// error for which `isDependencyFailure` says `false` (a unique-key violation, a 4xx from a
/// webhook), show the dependency answering and count as successes; cancellations count as
/// neither. One careless client can therefore never open a breaker for everyone. Transitions are logged and the state is
/// exported as the gauge `circuit_breaker_state{dependency}` (0 closed, 1 half-open, 2 open).
public final class CircuitBreaker: Sendable {
    /// Where the breaker stands.
    public enum State: String, Sendable {
        case closed
        case open
        case halfOpen = "half-open"

        /// The gauge's value for the state.
        var metricValue: Int {
            switch self {
            case .closed: 0
            case .halfOpen: 1
            case .open: 2
            }
        }
    }

    /// When the breaker opens and how it recovers.
    public struct Settings: Sendable {
        /// How many of the latest calls the failure rate looks at. Default: 20.
        public var windowSize = 20
        /// Fewest calls in the window before the failure rate can open the breaker. Default: 10.
        public var minimumCalls = 10
        /// Failure rate (0…1) over the window that opens the breaker. Default: 0.5.
        public var failureRateThreshold = 0.5
        /// Failures in a row that open the breaker whatever the window says. Default: 5.
        public var consecutiveFailures = 5
        /// How long an open breaker fails fast before letting probes through. Default: 5 s.
        public var openDuration: Duration = .seconds(5)
        /// Calls let through at once while half-open; as many successes close the breaker. Default: 3.
        public var halfOpenProbes = 3
        /// Longest one call may take; a slower call fails with ``TimeoutError``. `nil` when the
        /// call bounds itself (a client with its own socket timeouts), which spares the timer
        /// on hot paths. Default: 2 s.
        public var callTimeout: Duration? = .seconds(2)

        public init() {}
    }

    /// A ticket for one call, returned by ``acquire()`` and handed back to ``record(_:_:)``.
    struct Permit: Sendable {
        fileprivate let generation: Int
        fileprivate let isProbe: Bool
    }

    /// How a call ended, as far as the breaker is concerned.
    public enum Outcome: Sendable {
        case success
        case failure(any Error)
    }

    /// The dependency's name, e.g. `postgres`; used in logs, errors and metrics.
    public let dependency: String
    private let settings: Settings
    private let now: @Sendable () -> ContinuousClock.Instant
    private let isDependencyFailure: @Sendable (any Error) -> Bool
    private let logger: Logger
    private let core: NIOLockedValueBox<Core>
    private let stateGauge: Gauge
    private let rejections: Counter

    /// - Parameters:
    ///   - now: the clock; tests pass one they move by hand.
    ///   - isDependencyFailure: whether an error says the dependency is failing (default: every error).
    public init(
        dependency: String, settings: Settings = Settings(), logger: Logger,
        now: @escaping @Sendable () -> ContinuousClock.Instant = { ContinuousClock.now },
        isDependencyFailure: @escaping @Sendable (any Error) -> Bool = { _ in true }
    ) {
        self.dependency = dependency
        self.settings = settings
        self.now = now
        self.isDependencyFailure = isDependencyFailure
        self.logger = logger
        self.core = NIOLockedValueBox(Core(windowSize: settings.windowSize))
        self.stateGauge = Gauge(label: "circuit_breaker_state", dimensions: [("dependency", dependency)])
        self.rejections = Counter(
            label: "circuit_breaker_rejected_calls_total", dimensions: [("dependency", dependency)])
        stateGauge.record(State.closed.metricValue)
    }

    /// The state now (an open breaker whose time is up reads as half-open).
    public var state: State {
        core.withLockedValue { core in
            if core.state == .open, now() >= core.openUntil { return .halfOpen }
            return core.state
        }
    }

    /// Runs `operation` if the breaker lets it, within ``Settings/callTimeout``, and records how it ended.
    /// Throws ``CircuitOpenError`` without running it when the breaker is open.
    @discardableResult
    public func run<Value: Sendable>(_ operation: @escaping @Sendable () async throws -> Value) async throws -> Value {
        try await run(keepingTimeout: { timeout in
            if let timeout { try await withTimeout(timeout, operation) } else { try await operation() }
        })
    }

    /// Runs `operation` if the breaker lets it, and records how it ended, as ``run(_:)`` does; but
    /// `operation` keeps to ``Settings/callTimeout`` itself: it is given the timeout and throws
    /// ``TimeoutError`` when it runs out. For a caller that can end its call more cheaply than
    /// ``withTimeout(_:_:)``'s racing task can (the group commit's writer closes its connection).
    public func run<Value: Sendable>(keepingTimeout operation: (Duration?) async throws -> Value) async throws -> Value
    {
        let permit = try acquire()
        do {
            let value = try await operation(settings.callTimeout)
            record(permit, .success)
            return value
        } catch {
            record(permit, .failure(error))
            throw error
        }
    }

    /// Runs `operation` if the breaker lets it, for a call whose outcome is known only in parts
    /// (a batch some of whose messages were delivered): `operation` returns its value, the parts
    /// that went through, together with the outcome the breaker records. Throws
    /// ``CircuitOpenError`` without running it when the breaker is open. No call timeout:
    /// `operation` bounds its own waiting.
    public func run<Value>(reporting operation: () async -> (value: Value, outcome: Outcome))
        async throws(CircuitOpenError) -> Value
    {
        let permit = try acquire()
        let (value, outcome) = await operation()
        record(permit, outcome)
        return value
    }

    /// Asks to make one call. Every permit must be handed back to ``record(_:_:)``.
    func acquire() throws(CircuitOpenError) -> Permit {
        let (decision, change) = core.withLockedValue { core -> (Result<Permit, CircuitOpenError>, Transition?) in
            let time = now()
            var change: Transition?
            switch core.state {
            case .closed:
                return (.success(Permit(generation: core.generation, isProbe: false)), nil)
            case .open where time < core.openUntil:
                return (.failure(CircuitOpenError(dependency: dependency, retryAfter: core.openUntil - time)), nil)
            case .open:
                change = transition(&core, to: .halfOpen, reason: "open for \(settings.openDuration); probing")
                fallthrough
            case .halfOpen:
                guard core.probesInFlight < settings.halfOpenProbes else {
                    return (.failure(CircuitOpenError(dependency: dependency, retryAfter: .seconds(1))), change)
                }
                core.probesInFlight += 1
                return (.success(Permit(generation: core.generation, isProbe: true)), change)
            }
        }
        if let change { announce(change) }
        if case .failure = decision { rejections.increment() }
        return try decision.get()
    }

    /// Records how a permitted call ended. Outcomes of calls permitted before the last
    /// transition are ignored: they describe the dependency as it was.
    func record(_ permit: Permit, _ outcome: Outcome) {
        let failed: Bool?
        switch outcome {
        case .success:
            failed = false
        case .failure(let error) where error is TimeoutError:
            failed = true
        case .failure(let error) where error is CancellationError || error is CircuitOpenError:
            failed = nil
        case .failure(let error) where error is any CallerFault:
            failed = false
        case .failure(let error):
            failed = isDependencyFailure(error) ? true : false
        }
        let change = core.withLockedValue { core -> Transition? in
            guard permit.generation == core.generation else { return nil }
            if permit.isProbe { core.probesInFlight -= 1 }
            guard let failed else { return nil }
            switch core.state {
            case .closed:
                core.remember(failed: failed)
                guard let reason = openingReason(core) else { return nil }
                let detail = if case .failure(let error) = outcome { "\(reason); last error: \(error)" } else { reason }
                return transition(&core, to: .open, reason: detail)
            case .halfOpen where failed:
                return transition(&core, to: .open, reason: "a probe failed: \(outcome)")
            case .halfOpen:
                core.probeSuccesses += 1
                guard core.probeSuccesses >= settings.halfOpenProbes else { return nil }
                return transition(&core, to: .closed, reason: "\(core.probeSuccesses) probes succeeded")
            case .open:
                return nil
            }
        }
        if let change { announce(change) }
    }

    private func openingReason(_ core: Core) -> String? {
        if core.consecutiveFailures >= settings.consecutiveFailures {
            return "\(core.consecutiveFailures) failures in a row"
        }
        let calls = core.window.count
        guard calls >= settings.minimumCalls else { return nil }
        let rate = Double(core.failuresInWindow) / Double(calls)
        guard rate >= settings.failureRateThreshold else { return nil }
        return "\(Int(rate * 100))% of the last \(calls) calls failed"
    }

    /// A change of state, decided under the lock and announced after it.
    private struct Transition {
        let from: State
        let to: State
        let reason: String
    }

    /// Moves `core` to `state`; only state changes here, under the lock (see ``announce(_:)``).
    private func transition(_ core: inout Core, to state: State, reason: String) -> Transition {
        let previous = core.state
        core.state = state
        core.generation += 1
        core.probesInFlight = 0
        core.probeSuccesses = 0
        switch state {
        case .open: core.openUntil = now() + settings.openDuration
        case .halfOpen: break
        case .closed: core.resetWindow()
        }
        return Transition(from: previous, to: state, reason: reason)
    }

    /// Logs a transition and sets the gauge, outside the lock: a log handler or metrics backend
    /// that is slow never holds up the calls deciding on the breaker. The gauge gets the state as
    /// it is by then, so that two transitions announced out of order still leave it right.
    private func announce(_ change: Transition) {
        switch change.to {
        case .open:
            logger.warning(
                "Circuit breaker opened: failing fast",
                metadata: [
                    "breaker.dependency": "\(dependency)", "breaker.from": "\(change.from.rawValue)",
                    "breaker.reason": "\(change.reason)", "breaker.open_for": "\(settings.openDuration)",
                ])
        case .halfOpen:
            logger.info(
                "Circuit breaker half-open: probing",
                metadata: ["breaker.dependency": "\(dependency)", "breaker.reason": "\(change.reason)"])
        case .closed:
            logger.info(
                "Circuit breaker closed: dependency recovered",
                metadata: ["breaker.dependency": "\(dependency)", "breaker.reason": "\(change.reason)"])
        }
        stateGauge.record(core.withLockedValue { $0.state }.metricValue)
    }
}

/// The breaker's mutable state, only touched under its lock.
private struct Core {
    var state = CircuitBreaker.State.closed
    /// Grows with every transition; permits of older generations are ignored.
    var generation = 0
    var openUntil = ContinuousClock.now
    var probesInFlight = 0
    var probeSuccesses = 0
    var consecutiveFailures = 0
    /// The latest outcomes, `true` for a failure, as a ring of `windowSize`.
    var window: [Bool] = []
    var windowNext = 0
    var failuresInWindow = 0
    let windowSize: Int

    init(windowSize: Int) {
        self.windowSize = max(1, windowSize)
        window.reserveCapacity(self.windowSize)
    }

    mutating func remember(failed: Bool) {
        consecutiveFailures = failed ? consecutiveFailures + 1 : 0
        if window.count < windowSize {
            window.append(failed)
        } else {
            if window[windowNext] { failuresInWindow -= 1 }
            window[windowNext] = failed
            windowNext = (windowNext + 1) % windowSize
        }
        if failed { failuresInWindow += 1 }
    }

    mutating func resetWindow() {
        window.removeAll(keepingCapacity: true)
        windowNext = 0
        failuresInWindow = 0
        consecutiveFailures = 0
    }
}

/// A call was refused because the dependency's circuit breaker is open.
public struct CircuitOpenError: Error, CustomStringConvertible, Sendable {
    /// The dependency, e.g. `postgres`.
    public let dependency: String
    /// When a retry may go through.
    public let retryAfter: Duration

    public var description: String { "\(dependency) is unavailable (circuit open; retry in \(retryAfter))" }
}

/// An error that is the request's own fault (bad input, a conflict, a reused idempotency key),
/// not its dependency's: thrown inside a breaker's call, it never counts as a failure.
public protocol CallerFault: Error {}
