import NIOConcurrencyHelpers

/// At most ``limit`` calls of one kind at once; one more is refused at once with ``Full``
/// rather than queued without a bound (a bulkhead: a flood of one kind of work cannot take
/// everything else's resources).
public final class Bulkhead: Sendable {
    /// Calls allowed at once.
    public let limit: Int
    private let running = NIOLockedValueBox(0)

    /// The call was refused: ``limit`` run already.
    public struct Full: Error {}

    public init(limit: Int) { self.limit = limit }

    /// Runs `work` if fewer than ``limit`` calls run; throws ``Full`` otherwise.
    public func run<Result>(_ work: () async throws -> Result) async throws -> Result {
        let admitted = running.withLockedValue { count in
            guard count < limit else { return false }
            count += 1
            return true
        }
        guard admitted else { throw Full() }
        defer { running.withLockedValue { $0 -= 1 } }
        return try await work()
    }
}
