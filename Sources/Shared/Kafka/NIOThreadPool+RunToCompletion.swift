import NIOPosix

extension NIOThreadPool {
    /// Runs `body` on the pool and waits for it, whether or not the calling task is cancelled.
    ///
    /// `runIfActive` drops work whose task is cancelled before a thread takes it. A Kafka
    /// client's poll loop and its close must run even then: they are what fails the pending
    /// deliveries and destroys the client, and they watch the client's own stop flags to end
    /// early. A cancelled caller that skipped them would leave its deliveries waiting for good.
    package func runToCompletion<Value: Sendable>(_ body: @escaping @Sendable () throws -> Value) async throws -> Value {
        try await withCheckedThrowingContinuation { continuation in
            submit { state in
                guard case .active = state else {
                    continuation.resume(throwing: NIOThreadPoolError.ThreadPoolInactive())
                    return
                }
                continuation.resume(with: Result(catching: body))
            }
        }
    }
}
