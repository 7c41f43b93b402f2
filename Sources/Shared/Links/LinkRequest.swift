import Foundation

/// The body of `POST /create` as sent by a client; every field is checked by ``LinkRequest/validated(now:)``.
public struct LinkRequest: Decodable, Sendable {
    /// The target URL.
    public var url: String?
    /// A custom code instead of a generated one.
    public var alias: String?
    /// RFC 3339 time after which the link answers `410 Gone`.
    public var expiresAt: String?
    /// Visits after which the link answers `410 Gone`.
    public var maxClicks: Int64?

    enum CodingKeys: String, CodingKey {
        case url, alias
        case expiresAt = "expires_at"
        case maxClicks = "max_clicks"
    }

    public init(url: String?, alias: String? = nil, expiresAt: String? = nil, maxClicks: Int64? = nil) {
        self.url = url
        self.alias = alias
        self.expiresAt = expiresAt
        self.maxClicks = maxClicks
    }

    /// Longest target URL accepted (what browsers and proxies reliably handle).
    public static let maximumURLLength = 2048
    /// Largest `max_clicks` accepted.
    public static let maximumMaxClicks: Int64 = 1_000_000_000_000
    /// The first instant `expires_at` may not reach: 10000-01-01T00:00:00Z (RFC 3339 has
    /// four-digit years).
    public static let latestExpiry = Date(timeIntervalSince1970: 253_402_300_800)
    /// Shortest custom alias accepted.
    public static let minimumAliasLength = 3
    /// Codes that would collide with the HTTP API's own paths.
    public static let reservedAliases: Set<String> = [
        "api", "create", "health", "metrics", "openapi", "openapi.yaml", "docs", "admin", "static", "favicon.ico",
        "robots.txt",
    ]

    /// Checks every field and returns the link to create, or the first problem found.
    public func validated(now: Date = Date()) throws(APIError) -> NewLink {
        guard let url else { throw APIError(.badRequest, "missing_url", "the body must have a string field 'url'") }
        let trimmed = url.trimmingCharacters(in: .whitespaces)
        guard !trimmed.isEmpty else { throw APIError(.badRequest, "missing_url", "'url' is empty") }
        guard trimmed.utf8.count <= Self.maximumURLLength else {
            throw APIError(.badRequest, "url_too_long", "'url' is longer than \(Self.maximumURLLength) bytes")
        }
        guard
            !trimmed.unicodeScalars.contains(where: {
                $0.properties.isWhitespace || $0.value < 0x20 || $0.value == 0x7F
            })
        else {
            throw APIError(.badRequest, "invalid_url", "'url' is not an absolute URL")
        }
        let target = try TargetURL.normalized(trimmed)
        guard target.utf8.count <= Self.maximumURLLength else {
            throw APIError(
                .badRequest, "url_too_long", "'url' is longer than \(Self.maximumURLLength) bytes once encoded")
        }

        var expiry: Date?
        if let expiresAt {
            guard let parsed = try? RFC3339.parse(expiresAt) else {
                throw APIError(.badRequest, "invalid_expires_at", "'expires_at' must be an RFC 3339 time")
            }
            guard parsed > now else { throw APIError(.badRequest, "invalid_expires_at", "'expires_at' is in the past") }
            guard parsed < Self.latestExpiry else {
                throw APIError(.badRequest, "invalid_expires_at", "'expires_at' must be before the year 10000")
            }
            expiry = parsed
        }

        if let alias {
            guard alias.utf8.count >= Self.minimumAliasLength, ShortCode.isWellFormed(alias) else {
                throw APIError(
                    .badRequest, "invalid_alias",
                    """
                    'alias' must be \(Self.minimumAliasLength)-\(ShortCode.maximumLength) characters of A-Z, a-z, 0-9, '_' or '-'
                    """)
            }
            guard !Self.reservedAliases.contains(alias.lowercased()) else {
                throw APIError(.badRequest, "reserved_alias", "'\(alias)' is reserved")
            }
        }
        if let maxClicks, !(1...Self.maximumMaxClicks).contains(maxClicks) {
            throw APIError(
                .badRequest, "invalid_max_clicks", "'max_clicks' must be between 1 and \(Self.maximumMaxClicks)")
        }
        return NewLink(url: target, alias: alias, expiresAt: expiry, maxClicks: maxClicks)
    }
}

/// A validated request to create a link.
public struct NewLink: Sendable, Equatable {
    /// The target URL in its stored form (see ``TargetURL``).
    public let url: String
    /// The custom code, if one was asked for.
    public let alias: String?
    /// When the link expires, if ever.
    public let expiresAt: Date?
    /// How many visits it allows, if limited.
    public let maxClicks: Int64?

    public init(url: String, alias: String? = nil, expiresAt: Date? = nil, maxClicks: Int64? = nil) {
        self.url = url
        self.alias = alias
        self.expiresAt = expiresAt
        self.maxClicks = maxClicks
    }
}
