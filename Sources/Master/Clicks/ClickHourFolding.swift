import Foundation
import Logging
import PostgresNIO
import ServiceLifecycle
import SharedResilience

/// Folds click hours older than ``hourlyDays`` into days, once an hour: each old hour's final
/// totals are added to its day's row and the hour's rows removed, in one transaction, so the
/// sums never change and a link's rows stay a few thousand however long it lives.
struct ClickHourFolding: Service {
    /// Days an hour stays an hour by default.
    static let defaultHourlyDays = 90

    let client: PostgresClient
    let breaker: CircuitBreaker
    /// Days an hour stays an hour.
    let hourlyDays: Int
    let logger: Logger
    /// Time between foldings. Default: 1 h.
    var interval: Duration = .seconds(3600)

    /// The start of `hour` (`yyyyMMddHH`, UTC), or nil when it is not one.
    static func start(ofHour hour: String) -> Date? {
        let digits = Array(hour.utf8)
        guard digits.count == 10, digits.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return nil }
        func number(_ range: Range<Int>) -> Int { Int(String(decoding: digits[range], as: UTF8.self))! }
        let components = DateComponents(
            year: number(0..<4), month: number(4..<6), day: number(6..<8), hour: number(8..<10))
        guard (1...12).contains(components.month!), (1...31).contains(components.day!),
            (0...23).contains(components.hour!)
        else { return nil }
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        return calendar.date(from: components)
    }

    func run() async throws {
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                do {
                    let folded = try await fold()
                    if folded > 0 {
                        logger.info("Folded old click hours into days", metadata: ["stats.hours": "\(folded)"])
                    }
                } catch {
                    logger.warning("Folding old click hours failed; retrying later", metadata: ["error": "\(error)"])
                }
                try await Task.sleep(for: interval)
            }
        }
    }

    /// Folds every hour row older than the horizon; returns how many rows were folded.
    @discardableResult
    func fold(now: Date = Date()) async throws -> Int {
        let horizon = now.addingTimeInterval(-86_400 * Double(hourlyDays))
        return try await breaker.run { [client, logger] in
            try await client.withTransaction(logger: logger) { connection in
                let rows = try await connection.query(
                    """
                    WITH old AS (
                        DELETE FROM click_hours WHERE hour < \(horizon) RETURNING *
                    ), folded AS (
                        INSERT INTO click_days (link_key, day, bot, replica_id, replica_epoch, total)
                        SELECT link_key, (hour AT TIME ZONE 'UTC')::date, bot, replica_id, replica_epoch, sum(total)
                        FROM old GROUP BY 1, 2, 3, 4, 5
                        ON CONFLICT (link_key, day, bot, replica_id, replica_epoch)
                            DO UPDATE SET total = click_days.total + excluded.total
                    )
                    SELECT count(*)::int FROM old
                    """, logger: logger)
                for try await count in rows.decode(Int.self) { return count }
                return 0
            }
        }
    }
}
