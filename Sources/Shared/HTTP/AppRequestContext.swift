import Foundation
import Hummingbird

/// The request context of the project's HTTP services: like Hummingbird's basic context, but
/// answers are encoded by one shared encoder that writes URLs with plain slashes
/// (`https://…`, not `https:\/\/…`) and sorted keys, instead of a new encoder per response.
public struct AppRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// The client's IP address (for rate limits without API keys); nil when unknown.
    public let remoteAddress: String?

    public init(source: Source) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress?.ipAddress
    }

    public var responseEncoder: JSONEncoder { JSONEncoder.project }
}
