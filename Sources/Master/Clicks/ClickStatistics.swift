import Foundation
import Logging
import PostgresNIO
import SharedEvents
import SharedLinks
import SharedResilience

/// Reads the pre-aggregated click analytics: a link's series and breakdowns, and the totals
/// over every link. Every read sums a few thousand rows at most (hours of the window, values
/// of a link), whatever the number of clicks.
struct ClickStatistics: Sendable {
    let client: PostgresClient
    let breaker: CircuitBreaker
    let logger: Logger

    /// Bucket size of a series.
    enum Granularity: String, Sendable {
        case hour, day

        var seconds: TimeInterval { self == .hour ? 3600 : 86_400 }

        /// The start of the bucket `date` falls in.
        func start(of date: Date) -> Date {
            Date(timeIntervalSince1970: (date.timeIntervalSince1970 / seconds).rounded(.down) * seconds)
        }
    }

    /// One bucket of a series.
    struct Bucket: Equatable, Sendable, Encodable {
        let start: Date
        var clicks: Int64
    }

    /// One value of a dimension.
    struct Value: Equatable, Sendable, Encodable {
        let value: String
        let clicks: Int64
    }

    /// A link's statistics.
    struct LinkStatistics: Sendable {
        var total: Int64
        var bots: Int64
        var series: [Bucket]
        var dimensions: [ClickBreakdown.Dimension: [Value]]
    }

    /// Values shown per dimension; the rest are summed into `other`.
    static let topValues = 10

    /// Values shown of `dimension`: every rule and variant (a link has at most 32 rules of 10
    /// variants, and each counts), ``topValues`` of the others.
    static func shownValues(of dimension: ClickBreakdown.Dimension) -> Int {
        switch dimension {
        case .rule, .variant: (LinkRouting.maximumRules + 1) * WeightedTarget.variantCounts.upperBound
        default: topValues
        }
    }

    /// The link's clicks in `[from, to)` as a zero-filled series, with its bot clicks, and the
    /// top values of every dimension (over the link's life). With `excludingBots`, bots count
    /// nowhere but in `bots`.
    func link(_ address: LinkAddress, from: Date, to: Date, granularity: Granularity, excludingBots: Bool) async throws
        -> LinkStatistics
    {
        // Whole buckets: the one `from` falls in counts from its start.
        let from = granularity.start(of: from)
        let key = address.key
        return try await breaker.run { [client, logger] in
            let rows = try await client.query(
                """
                SELECT bucket, bot, sum(total)::bigint FROM (
                    SELECT date_bin(\(granularity.seconds) * interval '1 second', hour, 'epoch') AS bucket, bot, total
                    FROM click_hours WHERE link_key = \(key) AND hour >= \(from) AND hour < \(to)
                    UNION ALL
                    SELECT date_bin(\(granularity.seconds) * interval '1 second', day::timestamp AT TIME ZONE 'UTC', 'epoch'),
                        bot, total
                    FROM click_days WHERE link_key = \(key)
                        AND day >= (\(from) AT TIME ZONE 'UTC')::date AND day < (\(to) AT TIME ZONE 'UTC')::date
                ) buckets GROUP BY 1, 2
                """, logger: logger)
            var clicks: [Date: Int64] = [:]
            var bots: Int64 = 0
            for try await (bucket, bot, total) in rows.decode((Date, Bool, Int64).self) {
                if bot { bots += total }
                if !(bot && excludingBots) { clicks[bucket, default: 0] += total }
            }
            var series: [Bucket] = []
            var start = from
            while start < to {
                series.append(Bucket(start: start, clicks: clicks[start] ?? 0))
                start = start.addingTimeInterval(granularity.seconds)
            }
            let values = try await client.query(
                """
                SELECT dimension, value, sum(total)::bigint FROM click_values
                WHERE link_key = \(key) AND (NOT \(excludingBots) OR NOT bot)
                GROUP BY 1, 2
                """, logger: logger)
            var dimensions: [ClickBreakdown.Dimension: [Value]] = [:]
            for try await (dimension, value, total) in values.decode((String, String, Int64).self) {
                guard let dimension = ClickBreakdown.Dimension(rawValue: dimension) else { continue }
                dimensions[dimension, default: []].append(Value(value: value, clicks: total))
            }
            return LinkStatistics(
                total: series.reduce(0) { $0 + $1.clicks }, bots: bots, series: series,
                dimensions: Dictionary(
                    uniqueKeysWithValues: dimensions.map { dimension, values in
                        (dimension, Self.top(values, shown: Self.shownValues(of: dimension)))
                    }))
        }
    }

    /// The ``topValues`` largest values, then `other` with the rest (values the replicas already
    /// counted as `other` included).
    static func top(_ values: [Value], shown count: Int = topValues) -> [Value] {
        let sorted = values.sorted { ($0.clicks, $1.value) > ($1.clicks, $0.value) }
        let shown = sorted.filter { $0.value != "other" }.prefix(count)
        let rest = sorted.reduce(0) { $0 + $1.clicks } - shown.reduce(0) { $0 + $1.clicks }
        return Array(shown) + (rest > 0 ? [Value(value: "other", clicks: rest)] : [])
    }

    /// Clicks over every link `visibility` shows (only those on `domain` and tagged `tag`, when given) in
    /// `[from, to)`: the total, the bot clicks, and the links with the most clicks (by
    /// ``LinkAddress/key``).
    func overall(
        from: Date, to: Date, tag: String?, domain: String? = nil, visibility: LinkVisibility = LinkVisibility()
    ) async throws
        -> (total: Int64, bots: Int64, top: [Value])
    {
        try await breaker.run { [client, logger] in
            let window: PostgresQuery = """
                WITH clicks AS (
                    SELECT link_key, bot, total FROM click_hours WHERE hour >= \(from) AND hour < \(to)
                    UNION ALL
                    SELECT link_key, bot, total FROM click_days
                    WHERE day >= (\(from) AT TIME ZONE 'UTC')::date AND day < (\(to) AT TIME ZONE 'UTC')::date
                ), tagged AS (
                    SELECT c.* FROM clicks c
                    WHERE (\(tag)::text IS NULL AND \(domain)::text IS NULL AND \(visibility.isUnrestricted))
                        OR EXISTS (
                            SELECT 1 FROM links l WHERE l.link_key = c.link_key
                                AND (\(tag)::text IS NULL OR l.tags @> ARRAY[\(tag)::text])
                                AND (\(domain)::text IS NULL OR l.domain = \(domain)::text)
                                AND (\(visibility.createdBy)::text IS NULL
                                    OR l.created_by_key = \(visibility.createdBy)::text)
                                AND (cardinality(\(visibility.anyOfTags)::text[]) = 0
                                    OR l.tags && \(visibility.anyOfTags)::text[])
                                AND (cardinality(\(visibility.domains)::text[]) = 0
                                    OR l.domain = ANY(\(visibility.domains)::text[])))
                )
                SELECT '', coalesce(sum(total) FILTER (WHERE bot), 0)::bigint, coalesce(sum(total), 0)::bigint
                FROM tagged
                UNION ALL
                (SELECT link_key, 0, sum(total)::bigint FROM tagged GROUP BY link_key ORDER BY 3 DESC, 1 LIMIT \(Self.topValues))
                """
            var total: Int64 = 0
            var bots: Int64 = 0
            var links: [Value] = []
            for try await (code, botClicks, clicks) in try await client.query(window, logger: logger).decode(
                (String, Int64, Int64).self)
            {
                if code.isEmpty {
                    (total, bots) = (clicks, botClicks)
                } else {
                    links.append(Value(value: code, clicks: clicks))
                }
            }
            return (total, bots, links)
        }
    }
}
