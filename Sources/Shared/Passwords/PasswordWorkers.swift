import Foundation
import Metrics
import NIOConcurrencyHelpers
import NIOPosix

/// Where password hashing and verification run: threads of their own, never an event loop,
/// with a bound on the work waiting and, beside redirects, on the work started each second. A
/// flood of password attempts queues at most ``queueLimit``, starts at most ``perSecond`` a
/// second, and is refused beyond (``Busy``); work whose turn in the second comes within
/// ``maximumWait`` waits for it instead, so that a few visitors at once are served a moment
/// later rather than refused. The threads also run at a lower CPU priority, so the kernel gives
/// the event loops the cores first.
public final class PasswordWorkers: Sendable {
    /// More work was waiting than the bound allows; try again later.
    public struct Busy: Error {}

    /// Work running or waiting, at most.
    public let queueLimit: Int
    private let pool: NIOThreadPool
    private let waiting = NIOLockedValueBox(0)

    /// `password_work_total{outcome}`: hashes and verifications run, and refused as busy.
    private static let ran = Counter(label: "password_work_total", dimensions: [("outcome", "ran")])
    private static let refused = Counter(label: "password_work_total", dimensions: [("outcome", "busy")])

    /// Nice value of the threads (0: as the rest of the process; 19: the last).
    let niceness: Int32
    /// Most pieces of work started in a second (a bucket of as many, at least one); nil: no bound.
    let perSecond: Double?
    /// How long work may wait for its turn in the second rather than be refused.
    let maximumWait: Duration
    /// The bucket: work that may start now (below zero: turns promised to work waiting), and
    /// when it was last filled.
    private let bucket: NIOLockedValueBox<(tokens: Double, filled: ContinuousClock.Instant)>

    /// For setting passwords (the master): one thread, at most 32 waiting.
    public static let setting = PasswordWorkers(threads: 1, queueLimit: 32, niceness: 0, perSecond: nil)
    /// For checking them beside redirects (the replica): one thread at nice 5, at most 32
    /// waiting and `perSecond` started a second, a check waiting up to 2 s for its turn. A
    /// check of the README's argon2id hash takes about 35 ms of a core here, so the bound is
    /// what a flood of wrong passwords can take from the redirects: ``defaultChecksPerSecond``
    /// is about a fourteenth of a core. (Nice 10 alone left a check waiting over 10 s on a
    /// saturated test machine; nice 5 alone let a flood take a third of a core and a quarter
    /// of the redirects; 5 a second still raised the redirects' p99 by half in `make bench`.)
    public static func checking(perSecond: Double) -> PasswordWorkers {
        PasswordWorkers(threads: 1, queueLimit: 32, niceness: 5, perSecond: perSecond, maximumWait: .seconds(2))
    }

    /// Password checks a replica starts a second by default (`SHORTENER_PASSWORD_CHECKS_PER_SECOND`).
    public static let defaultChecksPerSecond = 2.0

    /// Workers of their own: `threads` threads at `niceness`, at most `queueLimit` pieces of
    /// work running or waiting and `perSecond` started a second (nil: no bound), work waiting
    /// up to `maximumWait` for its turn in the second.
    public init(threads: Int, queueLimit: Int, niceness: Int32, perSecond: Double?, maximumWait: Duration = .zero) {
        self.queueLimit = queueLimit
        self.niceness = niceness
        self.perSecond = perSecond
        self.maximumWait = maximumWait
        bucket = NIOLockedValueBox((max(1, perSecond ?? 0), ContinuousClock.now))
        pool = NIOThreadPool(numberOfThreads: threads)
        pool.start()
    }

    /// Whether work would be refused now (the queue full, or no turn in the bucket within
    /// ``maximumWait``), counted as refused when it would: callers refuse early, before spending
    /// anything else on it.
    public func refusesNow() -> Bool {
        let full =
            !waiting.withLockedValue({ $0 < queueLimit })
            || perSecond.map { perSecond in
                bucket.withLockedValue { turns(in: $0, at: .now, perSecond: perSecond) - 1 < -lowest(perSecond) }
            } ?? false
        if full { Self.refused.increment() }
        return full
    }

    /// The turns in `bucket` at `now`: as many as it held, and `perSecond` for each second since
    /// it was filled, up to its size.
    private func turns(
        in bucket: (tokens: Double, filled: ContinuousClock.Instant), at now: ContinuousClock.Instant, perSecond: Double
    ) -> Double {
        min(max(1, perSecond), bucket.tokens + (now - bucket.filled).seconds * perSecond)
    }

    /// How far below zero the bucket may go: the turns that come within ``maximumWait``.
    private func lowest(_ perSecond: Double) -> Double {
        maximumWait.seconds * perSecond
    }

    /// Takes a turn from the bucket: how long until it comes (zero: now), or nil when it would
    /// not come within ``maximumWait``.
    private func takeTurn() -> Duration? {
        guard let perSecond else { return .zero }
        return bucket.withLockedValue { bucket in
            let now = ContinuousClock.now
            bucket = (turns(in: bucket, at: now, perSecond: perSecond), now)
            guard bucket.tokens - 1 >= -lowest(perSecond) else { return nil }
            bucket.tokens -= 1
            return bucket.tokens >= 0 ? .zero : .seconds(-bucket.tokens / perSecond)
        }
    }

    /// Runs `work` on a worker thread, once its turn in the second has come, and returns its
    /// result; ``Busy`` when ``queueLimit`` pieces of work are running or waiting already, or
    /// when its turn would not come within ``maximumWait``.
    public func run<Value: Sendable>(_ work: @escaping @Sendable () throws -> Value) async throws -> Value {
        let turn: Duration? = waiting.withLockedValue { waiting in
            guard waiting < queueLimit, let turn = takeTurn() else { return nil }
            waiting += 1
            return turn
        }
        guard let turn else {
            Self.refused.increment()
            throw Busy()
        }
        defer { waiting.withLockedValue { $0 -= 1 } }
        if turn > .zero { try await Task.sleep(for: turn) }
        Self.ran.increment()
        return try await pool.runIfActive { [niceness] in
            Self.setNiceness(niceness)
            return try work()
        }
    }

    /// Gives the calling thread `niceness`: a system call, next to tens of milliseconds of
    /// hashing. On Linux a nice value belongs to a thread, and `0` names the caller.
    private static func setNiceness(_ niceness: Int32) {
        #if os(Linux)
            guard niceness != 0 else { return }
            _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, niceness)
        #endif
    }
}

extension Duration {
    /// The duration in seconds.
    fileprivate var seconds: Double {
        Double(components.seconds) + Double(components.attoseconds) / 1e18
    }
}
