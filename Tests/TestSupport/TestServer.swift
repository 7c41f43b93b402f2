import Hummingbird
import Logging

/// A small HTTP server a test runs beside the product (a webhook receiver, pages to fetch), on
/// a port the system picks, learnt once it listens: a port found free and bound later may be
/// taken meanwhile by one of the tests running beside.
public final class TestServer: Sendable {
    public let port: Int
    private let task: Task<Void, any Error>

    /// Serves `router` until ``stop()``; `name` labels its (critical only) log.
    public init<Context: RequestContext>(router: Router<Context>, name: String) async throws
    where Context.Source == ApplicationRequestContextSource {
        var logger = Logger(label: name)
        logger.logLevel = .critical
        let (bound, listening) = AsyncStream<Int>.makeStream()
        let app = Application(
            router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { channel in
                listening.yield(channel.localAddress?.port ?? 0)
                listening.finish()
            }, logger: logger)
        let task = Task {
            defer { listening.finish() }
            try await app.runService()
        }
        var ports = bound.makeAsyncIterator()
        guard let port = await ports.next(), port > 0 else {
            task.cancel()
            throw ServiceFailure("\(name) did not start listening")
        }
        self.port = port
        self.task = task
    }

    public func stop() { task.cancel() }
}
