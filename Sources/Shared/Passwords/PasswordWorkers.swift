import Foundation
import Metrics
import NIOConcurrencyHelpers
import NIOPosix

/// Where password hashing and verification run: threads of their own, never an event loop,
/// with a bound on the work waiting. A flood of password attempts queues at most
/// ``queueLimit`` and is refused beyond it (``Busy``); beside redirects the threads run at a
/// lower CPU priority, so the kernel gives the event loops the cores first.
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

    /// For setting passwords (the master): one thread, at most 32 waiting.
    public static let setting = PasswordWorkers(threads: 1, queueLimit: 32, niceness: 0)
    /// For checking them beside redirects (the replica): one thread at nice 5, which a kernel
    /// busy with two event loops gives about a seventh of a core (and never starves: nice 10
    /// left a check waiting over 10 s on a saturated test machine), at most 32 waiting.
    public static let checking = PasswordWorkers(threads: 1, queueLimit: 32, niceness: 5)

    init(threads: Int, queueLimit: Int, niceness: Int32) {
        self.queueLimit = queueLimit
        self.niceness = niceness
        pool = NIOThreadPool(numberOfThreads: threads)
        pool.start()
    }

    /// Runs `work` on a worker thread and returns its result; ``Busy`` when ``queueLimit``
    /// pieces of work are running or waiting already.
    public func run<Value: Sendable>(_ work: @escaping @Sendable () throws -> Value) async throws -> Value {
        let admitted = waiting.withLockedValue { waiting in
            guard waiting < queueLimit else { return false }
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
