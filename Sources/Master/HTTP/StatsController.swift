import Foundation
import Hummingbird
import SharedEvents
import SharedJSON
import SharedLinks
import SharedService

/// `GET /api/links/<code>/stats?domain=&from=&to=&granularity=hour|day&exclude_bots=` and
/// `GET /api/stats?from=&to=&tag=&domain=`: click analytics from the pre-aggregated rows, behind
/// the `/api` group's key check.
struct StatsController: Sendable {
    let statistics: ClickStatistics
    let repository: any LinkRepository
    /// The domains, for `?domain=`.
    let domains: ShortDomains

    /// Most buckets a series may have: three months of hours, or ten years of days.
    static let maximumBuckets = 24 * 92
    static let maximumDays = 3660

    /// A link's statistics.
    struct LinkAnswer: ResponseEncodable {
        let total: Int64
        let bots: Int64
        let series: [ClickStatistics.Bucket]
        let referrers, countries, devices, browsers, os: [ClickStatistics.Value]
        /// Of a link with rules or a split: clicks by the rule that held (`default`: none did).
        let rules: [ClickStatistics.Value]
        /// Of a link with a split: clicks by variant, `<rule>/<variant>`.
        let variants: [ClickStatistics.Value]
    }

    /// The statistics over every link.
    struct OverallAnswer: ResponseEncodable {
        let total: Int64
        let bots: Int64
        let links: [LinkClicks]

        struct LinkClicks: Encodable {
            let code: String
            /// The host name of the link's domain.
            let domain: String
            let clicks: Int64
        }
    }

    /// The routes, for the `/api` group.
    var routes: RouteCollection<AppRequestContext> {
        let routes = RouteCollection(context: AppRequestContext.self)
        routes.get("links/:code/stats") { request, context in
            try await link(request, context: context)
        }
        routes.get("stats") { request, context in
            try await overall(request, context: context)
        }
        return routes
    }

    private func link(_ request: Request, context: AppRequestContext) async throws -> LinkAnswer {
        let address = try context.linkAddress(request, domains: domains)
        let query = request.uri.queryParameters
        let granularity =
            try query.get("granularity").map { text in
                guard let value = ClickStatistics.Granularity(rawValue: text) else {
                    throw APIError(.badRequest, "invalid_granularity", "'granularity' must be hour or day")
                }
                return value
            } ?? .day
        let excludingBots = try Self.flag(query.get("exclude_bots"), name: "exclude_bots")
        guard let createdAt = try await repository.creationTime(of: address) else { throw APIError.unknownCode }
        let (from, to) = try Self.window(
            from: query.get("from"), to: query.get("to"), defaultFrom: createdAt, granularity: granularity)
        let stats = try await statistics.link(
            address, from: from, to: to, granularity: granularity, excludingBots: excludingBots)
        func values(_ dimension: ClickBreakdown.Dimension) -> [ClickStatistics.Value] {
            stats.dimensions[dimension] ?? []
        }
        return LinkAnswer(
            total: stats.total, bots: stats.bots, series: stats.series,
            referrers: values(.referrer), countries: values(.country), devices: values(.device),
            browsers: values(.browser), os: values(.os), rules: values(.rule), variants: values(.variant))
    }

    private func overall(_ request: Request, context: AppRequestContext) async throws -> OverallAnswer {
        let query = request.uri.queryParameters
        let tag = try LinksAPIController.tag(query.get("tag"))
        let domain = try query.get("domain").map(domains.storedName)
        let (from, to) = try Self.window(
            from: query.get("from"), to: query.get("to"), defaultFrom: Date().addingTimeInterval(-30 * 86_400),
            granularity: .day)
        let stats = try await statistics.overall(
            from: from, to: to, tag: tag, domain: domain, visibility: AccessScope.current.visibility)
        return OverallAnswer(
            total: stats.total, bots: stats.bots,
            links: stats.top.compactMap { top in
                LinkAddress(key: top.value).map { address in
                    OverallAnswer.LinkClicks(
                        code: address.code, domain: domains.host(of: address.domain), clicks: top.clicks)
                }
            })
    }

    /// `true`, `false` or absent (false).
    static func flag(_ text: String?, name: String) throws -> Bool {
        switch text {
        case nil, "false", "0": return false
        case "true", "1": return true
        default: throw APIError(.badRequest, "invalid_\(name)", "'\(name)' must be true or false")
        }
    }

    /// The window `[from, to)`: RFC 3339 times, `from` defaulting to `defaultFrom` and `to` to
    /// now; `400` when `from` is after `to`, a time is not RFC 3339 or outside 1970-9999, or the
    /// window holds more buckets than a series may.
    static func window(from: String?, to: String?, defaultFrom: Date, granularity: ClickStatistics.Granularity)
        throws -> (Date, Date)
    {
        let end = try to.map { try TimeParameter.parse($0, name: "to") } ?? Date()
        var start = try from.map { try TimeParameter.parse($0, name: "from") } ?? defaultFrom
        guard start <= end else { throw APIError(.badRequest, "invalid_window", "'from' is after 'to'") }
        if from == nil {
            // The link's whole life, but no longer than a series may be.
            start = max(start, end.addingTimeInterval(-granularity.seconds * Double(limit(granularity) - 1)))
        }
        let buckets =
            (end.timeIntervalSince1970 - granularity.start(of: start).timeIntervalSince1970) / granularity.seconds
        guard buckets <= Double(limit(granularity)) else {
            throw APIError(
                .badRequest, "window_too_long",
                "the window holds more than \(limit(granularity)) \(granularity.rawValue)s; narrow it or use days")
        }
        return (start, end)
    }

    private static func limit(_ granularity: ClickStatistics.Granularity) -> Int {
        granularity == .hour ? maximumBuckets : maximumDays
    }
}
