import Foundation
import Metrics
import NIOConcurrencyHelpers
import NIOPosix

/// Where password hashing and verification run: threads of their own, never an event loop,
/// with a bound on the work waiting and, beside redirects, on the work started each second. A
/// flood of password attempts queues at most ``queueLimit``, starts at most ``perSecond`` a
/// second, and is refused beyond (``Busy``); the threads also run at a lower CPU priority, so
/// the kernel gives the event loops the cores first.
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
    /// The bucket: work that may start now, and when it was last filled.
    private let bucket: NIOLockedValueBox<(tokens: Double, filled: ContinuousClock.Instant)>

    /// For setting passwords (the master): one thread, at most 32 waiting.
    public static let setting = PasswordWorkers(threads: 1, queueLimit: 32, niceness: 0, perSecond: nil)
    /// For checking them beside redirects (the replica): one thread at nice 5, at most 32
    /// waiting and `perSecond` started a second. A check of the README's argon2id hash takes
    /// about 35 ms of a core here, so the bound is what a flood of wrong passwords can take
    /// from the redirects: ``defaultChecksPerSecond`` is about a fourteenth of a core. (Nice 10
    /// alone left a check waiting over 10 s on a saturated test machine; nice 5 alone let a
    /// flood take a third of a core and a quarter of the redirects; 5 a second still raised
    /// the redirects' p99 by half in `make bench`.)
    public static func checking(perSecond: Double) -> PasswordWorkers {
        PasswordWorkers(threads: 1, queueLimit: 32, niceness: 5, perSecond: perSecond)
    }

    /// Password checks a replica starts a second by default (`SHORTENER_PASSWORD_CHECKS_PER_SECOND`).
    public static let defaultChecksPerSecond = 2.0

    /// Workers of their own: `threads` threads at `niceness`, at most `queueLimit` pieces of
    /// work running or waiting and `perSecond` started a second (nil: no bound).
    public init(threads: Int, queueLimit: Int, niceness: Int32, perSecond: Double?) {
        self.queueLimit = queueLimit
        self.niceness = niceness
        self.perSecond = perSecond
        bucket = NIOLockedValueBox((max(1, perSecond ?? 0), ContinuousClock.now))
        pool = NIOThreadPool(numberOfThreads: threads)
        pool.start()
    }

    /// Whether work would be refused now (the queue full, or nothing left in the bucket this
    /// second), counted as refused when it would: callers refuse early, before spending
    /// anything else on it.
    public func refusesNow() -> Bool {
        let full =
            !waiting.withLockedValue({ $0 < queueLimit })
            || perSecond.map { perSecond in
                bucket.withLockedValue { $0.tokens + (ContinuousClock.now - $0.filled).seconds * perSecond < 1 }
            } ?? false
        if full { Self.refused.increment() }
        return full
    }

    /// Takes one piece of work from the bucket, if there is one.
    private func takeFromBucket() -> Bool {
        guard let perSecond else { return true }
        return bucket.withLockedValue { bucket in
            let now = ContinuousClock.now
            bucket = (min(max(1, perSecond), bucket.tokens + (now - bucket.filled).seconds * perSecond), now)
            guard bucket.tokens >= 1 else { return false }
            bucket.tokens -= 1
            return true
        }
    }

    /// Runs `work` on a worker thread and returns its result; ``Busy`` when ``queueLimit``
    /// pieces of work are running or waiting already, or ``perSecond`` have started this second.
    public func run<Value: Sendable>(_ work: @escaping @Sendable () throws -> Value) async throws -> Value {
        let admitted = waiting.withLockedValue { waiting in
            guard waiting < queueLimit, takeFromBucket() else { return false }
            waiting += 1
            return true
        }
        guard admitted else {
            Self.refused.increment()
            throw Busy()
        }
        defer { waiting.withLockedValue { $0 -= 1 } }
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
