import NIOConcurrencyHelpers
import NIOCore

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
        if let sha = script.loadedSHA {
            do {
                return try await evaluate(sha: sha, keys: keys, arguments: arguments)
            } catch let error as RedisError where error.kind == .reply && error.message.hasPrefix("NOSCRIPT") {
                script.loadedSHA = nil
            }
        }
        guard let sha = try await send(["SCRIPT", "LOAD", script.source]).string else {
            throw RedisError(.reply, "SCRIPT LOAD returned no SHA")
        }
        script.loadedSHA = sha
        return try await evaluate(sha: sha, keys: keys, arguments: arguments)
    }

    private func evaluate(sha: String, keys: [String], arguments: [String]) async throws -> RedisValue {
        var command = ByteBuffer()  // RESP.encode reserves what the command needs
        RESP.encode(["EVALSHA", sha, String(keys.count)], keys, arguments, into: &command)
        return try await send(command)
    }
}
