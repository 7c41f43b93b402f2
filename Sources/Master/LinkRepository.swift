import Foundation
import Logging
import NIOCore
import PostgresNIO
import Shared

/// Links in Postgres. Every change is written together with its outbox row in one transaction,
/// so an event reaches Kafka exactly when (and only when) the change is committed. Every call
/// goes through the Postgres circuit breaker.
struct LinkRepository: Sendable {
    let client: PostgresClient
    let breaker: CircuitBreaker
    let logger: Logger

    /// How many generated codes are tried before giving up (a collision is already rare).
    static let maximumAttempts = 5

    /// Creates the link and its `link.created` outbox row; returns its code.
    /// Throws ``APIError`` 409 when a custom alias is taken.
    func create(_ link: NewLink) async throws -> String {
        for _ in 1...Self.maximumAttempts {
            let code = link.alias ?? ShortCode.random()
            let event = LinkEvent.created(code: code, url: link.url, expiresAt: link.expiresAt)
            let payload = ByteBuffer(bytes: EventCodec.encode(event))
            do {
                try await breaker.run { [client, logger] in
                    try await client.withTransaction(logger: logger) { connection in
                        try await connection.query(
                            """
                            INSERT INTO links (code, url, expires_at, created_at)
                            VALUES (\(code), \(link.url), \(link.expiresAt), \(event.occurredAt))
                            """, logger: logger)
                        try await connection.query(
                            """
                            INSERT INTO outbox (topic, message_key, payload)
                            VALUES (\(TopicName.links.rawValue), \(code), \(payload))
                            """, logger: logger)
                    }
                }
                return code
            } catch  where error.isUniqueViolation {
                if link.alias != nil {
                    throw APIError(.conflict, "alias_taken", "the alias '\(code)' is already taken")
                }
                logger.debug("Generated code collided; trying another", metadata: ["link.code": "\(code)"])
            }
        }
        throw APIError(.serviceUnavailable, "code_space_exhausted", "could not find a free code; try again")
    }

    /// The link with its click total (the sum of the replicas' highest totals), or `nil`.
    func details(of code: String) async throws -> LinksAPIController.LinkDetails? {
        try await breaker.run { [client, logger] in
            let rows = try await client.query(
                """
                SELECT l.code, l.url, l.created_at,
                       COALESCE((SELECT sum(c.total) FROM click_counts c WHERE c.code = l.code), 0)::bigint
                FROM links l WHERE l.code = \(code)
                """, logger: logger)
            for try await (code, url, createdAt, clicks) in rows.decode((String, String, Date, Int64).self) {
                return LinksAPIController.LinkDetails(code: code, url: url, createdAt: createdAt, clicks: clicks)
            }
            return nil
        }
    }
}
