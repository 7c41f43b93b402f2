import NIOConcurrencyHelpers

/// A Lua script run with `EVALSHA`; loaded on first use and again if Redis forgot it.
public final class RedisScript: Sendable {
    /// The Lua source.
    public let source: String
    private let sha = NIOLockedValueBox<String?>(nil)

    public init(_ source: String) { self.source = source }

    fileprivate var loadedSHA: String? {
        get { sha.withLockedValue { $0 } }
        set { sha.withLockedValue { $0 = newValue } }
    }
}

extension RedisConnection {
    /// Runs `script` with `keys` and `arguments` in one round trip (two the first time).
    public func evaluate(_ script: RedisScript, keys: [String], arguments: [String]) async throws -> RedisValue {
        let tail = [String(keys.count)] + keys + arguments
        if let sha = script.loadedSHA {
            do {
                return try await send(["EVALSHA", sha] + tail)
            } catch let error as RedisError where error.kind == .reply && error.message.hasPrefix("NOSCRIPT") {
                script.loadedSHA = nil
            }
        }
        guard let sha = try await send(["SCRIPT", "LOAD", script.source]).string else {
            throw RedisError(.reply, "SCRIPT LOAD returned no SHA")
        }
        script.loadedSHA = sha
        return try await send(["EVALSHA", sha] + tail)
    }
}
