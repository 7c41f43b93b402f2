import Foundation
import Metrics
import NIOConcurrencyHelpers
import NIOPosix

/// Where password hashing and verification run: threads of their own at the lowest CPU
/// priority, never an event loop, with a bound on the work waiting. A flood of password
/// attempts queues at most ``queueLimit`` and is refused beyond it (``Busy``), and the
/// kernel gives the event loops' redirects the cores first.
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

    /// The workers of this process: one thread, at most 32 waiting.
    public static let shared = PasswordWorkers(threads: 1, queueLimit: 32)

    init(threads: Int, queueLimit: Int) {
        self.queueLimit = queueLimit
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
        return try await pool.runIfActive {
            Self.lowerPriority()
            return try work()
        }
    }

    /// Makes the calling thread the kernel's last choice (nice 19): a system call, next to
    /// tens of milliseconds of hashing. On Linux a nice value belongs to a thread, and `0`
    /// names the caller.
    private static func lowerPriority() {
        #if os(Linux)
            _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, 19)
        #endif
    }
}
