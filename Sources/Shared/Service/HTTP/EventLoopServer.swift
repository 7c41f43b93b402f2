import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import SharedResilience

extension HTTPServerBuilder {
    /// HTTP/1, with each connection's requests handled on the connection's own event loop.
    ///
    /// Hummingbird hands every connection to a task on Swift's global executor: a request is read
    /// on the event loop, handled on another thread and written back on the event loop, two
    /// thread wake-ups per request. Here the connection's task prefers its event loop as task
    /// executor, so reading, handling and writing stay on one thread, and so do Redis round trips
    /// (``RedisConnection`` keeps a socket per loop). The price: a handler must never block, or
    /// every connection of its loop waits (blocking librdkafka calls stay on their own threads).
    ///
    /// The connections are bounded by `settings`' idle and request-head timeouts.
    public static func http1OnConnectionEventLoops(_ settings: HTTPServerSettings = .init()) -> HTTPServerBuilder {
        let configuration = HTTP1Channel.Configuration(idleTimeout: TimeAmount(settings.idleTimeout))
        let headerTimeout = TimeAmount(settings.headerTimeout)
        return .init { responder in
            EventLoopBoundChildChannel(
                base: ProjectHTTP1Channel(
                    base: HTTP1Channel(responder: responder, configuration: configuration), headerTimeout: headerTimeout
                ))
        }
    }
}

/// A child channel whose handling runs on the channel's event loop (see
/// ``HummingbirdCore/HTTPServerBuilder/http1OnConnectionEventLoops(_:)``).
struct EventLoopBoundChildChannel<Base: ServerChildChannel>: ServerChildChannel {
    typealias Value = Base.Value
    let base: Base

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        base.setup(channel: channel, logger: logger)
    }

    func handle(value: Value, logger: Logger) async {
        await withTaskExecutorPreference(EventLoopTaskExecutor(value.channel.eventLoop)) {
            await base.handle(value: value, logger: logger)
        }
    }
}
