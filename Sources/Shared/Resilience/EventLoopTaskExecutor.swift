import NIOCore

/// Runs tasks' jobs on one NIO event loop: a task that prefers it stays on the loop's thread,
/// next to the channels it reads and writes, instead of hopping to Swift's global executor
/// and back on every `await`.
public final class EventLoopTaskExecutor: TaskExecutor {
    /// The loop every job runs on.
    public let eventLoop: any EventLoop

    public init(_ eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
    }

    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        eventLoop.execute { [self] in
            job.runSynchronously(on: asUnownedTaskExecutor())
        }
    }
}
