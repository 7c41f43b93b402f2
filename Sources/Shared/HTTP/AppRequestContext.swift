import Foundation
import Hummingbird

/// The request context of the project's HTTP services: like Hummingbird's basic context, but
/// answers are encoded by one shared encoder that writes URLs with plain slashes
/// (`https://…`, not `https:\/\/…`) and sorted keys, instead of a new encoder per response.
public struct AppRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage

    public init(source: Source) {
        coreContext = .init(source: source)
    }

    public var responseEncoder: JSONEncoder { JSONEncoder.project }
}
