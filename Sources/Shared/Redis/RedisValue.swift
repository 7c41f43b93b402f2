/// A Redis reply (RESP2).
public enum RedisValue: Sendable, Equatable {
    case null
    case integer(Int64)
    case bulk([UInt8])
    case status(String)
    case error(String)
    case array([RedisValue])

    /// Bulk or status replies as text.
    public var string: String? {
        switch self {
        case .bulk(let bytes): String(decoding: bytes, as: UTF8.self)
        case .status(let text): text
        default: nil
        }
    }

    /// Integer replies, and bulk replies holding a decimal number.
    public var integer: Int64? {
        switch self {
        case .integer(let value): value
        case .bulk: string.flatMap { Int64($0) }
        default: nil
        }
    }

    /// The elements of an array reply.
    public var array: [RedisValue]? {
        if case .array(let elements) = self { return elements }
        return nil
    }
}

/// A failed Redis command: the connection failed, or Redis answered with an error.
public struct RedisError: Error, CustomStringConvertible, Sendable {
    /// What went wrong.
    public enum Kind: Sendable {
        /// Connecting, writing or reading failed (or timed out); the command may not have run.
        case connection
        /// Redis ran the command and answered with an error reply.
        case reply
        /// The client was closed.
        case closed
    }

    public let kind: Kind
    public let message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { "RedisError(\(kind)): \(message)" }
}
