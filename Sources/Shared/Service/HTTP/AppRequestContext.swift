import Foundation
import Hummingbird
import NIOCore
import SharedJSON

/// The request context of the project's HTTP services: like Hummingbird's basic context, but
/// answers are encoded by one shared encoder that writes URLs with plain slashes
/// (`https://…`, not `https:\/\/…`) and sorted keys, instead of a new encoder per response.
public struct AppRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    private let channel: any Channel

    public init(source: Source) {
        coreContext = .init(source: source)
        channel = source.channel
    }

    /// The client's IP address (for rate limits without API keys); nil when unknown. Worked out
    /// on use: most requests never ask.
    public var remoteAddress: String? { channel.remoteAddress?.ipAddress }

    /// Closes the request's connection: an answer that streams for long (Server-Sent Events)
    /// ends its client this way, whatever its writes wait for.
    public func closeConnection() { channel.close(promise: nil) }

    /// Runs `action` once the request's connection has closed, whoever closed it: an answer that
    /// streams for long learns at once that its client left.
    public func whenConnectionCloses(_ action: @escaping @Sendable () -> Void) {
        channel.closeFuture.whenComplete { _ in action() }
    }

    public var responseEncoder: JSONEncoder { JSONEncoder.project }
}
