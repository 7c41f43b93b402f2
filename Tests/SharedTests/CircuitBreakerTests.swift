import Logging
import NIOConcurrencyHelpers
@testable import SharedResilience
import SharedService
import TestSupport
import Testing

/// The breaker's state machine, on a clock moved by hand (no sleeping, no wall-clock deadlines).
@Suite struct CircuitBreakerTests {
    struct Boom: Error {}
    struct CallerMistake: Error {}

    private func breaker(_ clock: ManualClock, configure: (inout CircuitBreaker.Settings) -> Void = { _ in })
        -> CircuitBreaker
    {
        var settings = CircuitBreaker.Settings()
        settings.windowSize = 10
        settings.minimumCalls = 4
        settings.failureRateThreshold = 0.5
        settings.consecutiveFailures = 3
        settings.openDuration = .seconds(5)
        settings.halfOpenProbes = 2
        // No wall-clock deadline unless a test sets one: at the start of `make test` the
        // cooperative pool can be busy for seconds, and a quick call then ran out of 2 s.
        settings.callTimeout = nil
        configure(&settings)
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        return CircuitBreaker(
            dependency: "test", settings: settings, logger: logger, now: { clock.now },
            isDependencyFailure: { !($0 is CallerMistake) })
    }

    private func succeed(_ breaker: CircuitBreaker) async throws { try await breaker.run {} }

    private func fail(_ breaker: CircuitBreaker, with error: any Error = Boom()) async {
        await #expect(throws: (any Error).self) { try await breaker.run { throw error } }
    }

    @Test func opensOnConsecutiveFailuresAndFailsFastWithoutCalling() async throws {
        let clock = ManualClock()
        let breaker = breaker(clock)
        await fail(breaker)
        await fail(breaker)
        #expect(breaker.state == .closed)
        await fail(breaker)
        #expect(breaker.state == .open)

        let called = NIOLockedValueBox(false)
        let error = await #expect(throws: CircuitOpenError.self) {
            try await breaker.run { called.withLockedValue { $0 = true } }
        }
        #expect(!called.withLockedValue { $0 })
        #expect(error?.retryAfter == .seconds(5))
        clock.advance(by: .seconds(2))
        #expect(throws: CircuitOpenError.self) { try breaker.acquire() }
    }

    @Test func opensOnTheFailureRateOnceTheWindowHasEnoughCalls() async throws {
        let clock = ManualClock()
        let breaker = breaker(clock) { $0.consecutiveFailures = 100 }
        // Alternating: 50% failures, never three in a row.
        try await succeed(breaker)
        await fail(breaker)
        try await succeed(breaker)
        #expect(breaker.state == .closed, "three calls are below the minimum of four")
        await fail(breaker)
        #expect(breaker.state == .open)
    }

    @Test func aLowFailureRateKeepsItClosed() async throws {
        let breaker = breaker(ManualClock()) { $0.consecutiveFailures = 100 }
        for _ in 0..<20 {
            try await succeed(breaker)
            try await succeed(breaker)
            await fail(breaker)
        }
        #expect(breaker.state == .closed)
    }

    @Test func halfOpenLetsALimitedNumberOfProbesAndClosesAfterTheirSuccess() async throws {
        let clock = ManualClock()
        let breaker = breaker(clock)
        for _ in 0..<3 { await fail(breaker) }
        clock.advance(by: .seconds(5))
        #expect(breaker.state == .halfOpen)

        let first = try breaker.acquire()
        let second = try breaker.acquire()
        #expect(throws: CircuitOpenError.self) { try breaker.acquire() }
        breaker.record(first, .success)
        #expect(breaker.state == .halfOpen)
        breaker.record(second, .success)
        #expect(breaker.state == .closed)
        try await succeed(breaker)
    }

    @Test func aFailedProbeOpensItAgainForAnotherFullPeriod() async throws {
        let clock = ManualClock()
        let breaker = breaker(clock)
        for _ in 0..<3 { await fail(breaker) }
        clock.advance(by: .seconds(5))
        await fail(breaker)
        #expect(breaker.state == .open)
        clock.advance(by: .seconds(4))
        #expect(breaker.state == .open)
        clock.advance(by: .seconds(1))
        #expect(breaker.state == .halfOpen)
    }

    @Test func timeoutsCountAsFailuresButCallerMistakesAndCancellationDoNot() async throws {
        let clock = ManualClock()
        let tolerant = breaker(clock)
        for _ in 0..<10 { await fail(tolerant, with: CallerMistake()) }
        await fail(tolerant, with: CancellationError())
        #expect(tolerant.state == .closed)

        // A short timeout only where every call times out: the deadline is wall-clock time on an
        // event loop, and on a busy CI machine 50 ms can pass before a quick call is even scheduled.
        let breaker = breaker(clock) { $0.callTimeout = .milliseconds(50) }
        for _ in 0..<3 {
            // Never returns on its own: the breaker's timeout answers for it.
            await #expect(throws: TimeoutError.self) {
                try await breaker.run { try await Task.sleep(for: .seconds(3600)) }
            }
        }
        #expect(breaker.state == .open)
    }

    @Test func outcomesOfCallsStartedBeforeATransitionAreIgnored() async throws {
        let clock = ManualClock()
        let breaker = breaker(clock)
        let early = try breaker.acquire()
        for _ in 0..<3 { await fail(breaker) }
        clock.advance(by: .seconds(5))
        _ = try breaker.acquire()  // half-open now
        breaker.record(early, .failure(Boom()))
        #expect(breaker.state == .halfOpen, "a stale failure must not reopen a probing breaker")
    }

    @Test func aRequestsOwnFaultNeverOpensAnyBreaker() async throws {
        // The default classification counts every error, yet an APIError (a 4xx for the
        // client, such as a reused idempotency key) thrown inside the call is the caller's.
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let breaker = CircuitBreaker(dependency: "any", logger: logger)
        for _ in 0..<50 {
            await fail(breaker, with: APIError(.unprocessableContent, "idempotency_key_reused", "reused"))
        }
        #expect(breaker.state == .closed)
        try await succeed(breaker)
    }

    @Test func thePostgresBreakerCountsOnlyFailuresOfTheServer() async throws {
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let breaker = CircuitBreaker.postgres(logger: logger)
        for _ in 0..<50 { await fail(breaker, with: APIError(.badRequest, "invalid_url", "bad")) }
        #expect(breaker.state == .closed)
        for _ in 0..<5 { await fail(breaker, with: Boom()) }  // no answer at all: an outage
        #expect(breaker.state == .open)
    }

    /// A log handler that asks the breaker for its state whenever it logs, as a backend that
    /// reports health with each line might.
    private struct StateReadingLogHandler: LogHandler {
        let breaker: NIOLockedValueBox<CircuitBreaker?>
        let seen: NIOLockedValueBox<[String]>
        var logLevel: Logger.Level = .info
        var metadata: Logger.Metadata = [:]

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            let state = breaker.withLockedValue { $0 }?.state
            seen.withLockedValue { $0.append("\(event.message) → \(state?.rawValue ?? "none")") }
        }
    }

    @Test func transitionsAreAnnouncedOutsideTheBreakersLock() async throws {
        // Logged under the lock, the handler's read of the state would deadlock on it.
        let clock = ManualClock()
        let box = NIOLockedValueBox<CircuitBreaker?>(nil)
        let seen = NIOLockedValueBox<[String]>([])
        var settings = CircuitBreaker.Settings()
        settings.consecutiveFailures = 1
        settings.halfOpenProbes = 1
        settings.callTimeout = nil
        let breaker = CircuitBreaker(
            dependency: "test", settings: settings,
            logger: Logger(label: "test") { _ in StateReadingLogHandler(breaker: box, seen: seen) },
            now: { clock.now })
        box.withLockedValue { $0 = breaker }
        await fail(breaker)
        clock.advance(by: .seconds(5))
        try await succeed(breaker)
        #expect(
            seen.withLockedValue { $0 } == [
                "Circuit breaker opened: failing fast → open", "Circuit breaker half-open: probing → half-open",
                "Circuit breaker closed: dependency recovered → closed",
            ])
    }
}
