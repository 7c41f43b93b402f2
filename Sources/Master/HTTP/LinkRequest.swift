import Foundation
import SharedEvents
import SharedJSON
import SharedLinks
import SharedService

/// The body of `POST /create` (and of each item of `POST /api/links/bulk`) as sent by a client;
/// every field is checked by ``LinkRequest/validated(now:)``.
struct LinkRequest: Decodable, Sendable {
    /// The target URL.
    var url: String?
    /// A custom code instead of a generated one.
    var alias: String?
    /// The short domain to create the link on; the default domain when absent.
    var domain: String?
    /// RFC 3339 time after which the link answers `410 Gone`.
    var expiresAt: String?
    /// Visits after which the link answers `410 Gone`.
    var maxClicks: Int64?
    /// Labels for finding the link again (``LinkTags``).
    var tags: [String]?
    /// 301, 302 (the default), 307 or 308.
    var redirectType: Int?
    /// Carry the visitor's query string over to the target (the default).
    var forwardQuery: Bool?
    /// Let search engines index the short URL (not by default).
    var crawlable: Bool?
    /// What the link is for, for people (up to 512 characters).
    var title: String?
    /// Notes about it (up to 4 KiB).
    var notes: String?
    /// Campaign parameters added to the target at redirect time (``UTMParameters``).
    var utm: [String: String]?
    /// Rules tried in order on every visit (``LinkRouting``).
    var rules: [RedirectRule]?
    /// The link's own target split between weighted variants.
    var split: [WeightedTarget]?
    /// What a visitor must give to be redirected (hashed by ``LinkPasswords``, never kept).
    var password: String?
    /// Answer an existing live link to the same URL on the same domain instead of a new one
    /// (`POST /create` only).
    var reuse: Bool?

    enum CodingKeys: String, CodingKey, CaseIterable {
        case url, alias, domain
        case expiresAt = "expires_at"
        case maxClicks = "max_clicks"
        case tags, crawlable, title, notes, utm, reuse, rules, split, password
        case redirectType = "redirect_type"
        case forwardQuery = "forward_query"
    }

    /// Decodes the fields, refusing one the endpoint does not know (`400 unknown_field`).
    init(from decoder: any Decoder) throws {
        try KnownFields.check(decoder, against: CodingKeys.self, subject: "a link")
        let container = try decoder.container(keyedBy: CodingKeys.self)
        url = try container.decodeIfPresent(String.self, forKey: .url)
        alias = try container.decodeIfPresent(String.self, forKey: .alias)
        domain = try container.decodeIfPresent(String.self, forKey: .domain)
        expiresAt = try container.decodeIfPresent(String.self, forKey: .expiresAt)
        maxClicks = try container.decodeIfPresent(Int64.self, forKey: .maxClicks)
        tags = try container.decodeIfPresent([String].self, forKey: .tags)
        redirectType = try container.decodeIfPresent(Int.self, forKey: .redirectType)
        forwardQuery = try container.decodeIfPresent(Bool.self, forKey: .forwardQuery)
        crawlable = try container.decodeIfPresent(Bool.self, forKey: .crawlable)
        title = try container.decodeIfPresent(String.self, forKey: .title)
        notes = try container.decodeIfPresent(String.self, forKey: .notes)
        utm = try container.decodeIfPresent([String: String].self, forKey: .utm)
        reuse = try container.decodeIfPresent(Bool.self, forKey: .reuse)
        rules = try Self.routingPart(field: "rules") {
            try container.decodeIfPresent([RedirectRule].self, forKey: .rules)
        }
        split = try Self.routingPart(field: "split") {
            try container.decodeIfPresent([WeightedTarget].self, forKey: .split)
        }
        password = try container.decodeIfPresent(String.self, forKey: .password)
    }

    /// Decodes `rules` or `split`: a problem with either is `400 invalid_<field>` saying what.
    static func routingPart<Value>(field: String, _ decode: () throws -> Value) throws(APIError) -> Value {
        do {
            return try decode()
        } catch let problem as RoutingProblem {
            throw APIError(.badRequest, "invalid_\(field)", problem.description, field: field)
        } catch let error as APIError {
            throw error
        } catch {
            throw APIError(
                .badRequest, "invalid_\(field)",
                field == "rules"
                    ? "'rules' is an array of {\"when\": {conditions}, \"url\" or \"split\"} (see the README)"
                    : "'split' is an array of {\"url\", \"weight\"} with weights summing to 100",
                field: field)
        }
    }

    /// `rules` and `split` as one ``LinkRouting`` with every target checked like `url`, at most
    /// ``LinkRouting/maximumRules`` rules and ``maximumRoutingBytes`` of JSON.
    static func validatedRouting(rules: [RedirectRule], split: [WeightedTarget]?) throws(APIError) -> LinkRouting {
        let routing = try routingPart(field: split != nil && rules.isEmpty ? "split" : "rules") {
            () throws -> LinkRouting in
            let routing = LinkRouting(rules: rules, split: split)
            try routing.check()
            return routing
        }
        let checked = try routing.mappingTargets { url throws(APIError) in try validatedURL(url) }
        guard checked.json.count <= maximumRoutingBytes else {
            throw APIError(
                .badRequest, "invalid_rules", "'rules' and 'split' take at most \(maximumRoutingBytes) bytes of JSON",
                field: "rules")
        }
        return checked
    }

    /// Most bytes a link's rules and split take as JSON (in every event and replica).
    static let maximumRoutingBytes = 16 * 1024

    init(
        url: String?, alias: String? = nil, domain: String? = nil, expiresAt: String? = nil, maxClicks: Int64? = nil,
        tags: [String]? = nil
    ) {
        self.url = url
        self.alias = alias
        self.domain = domain
        self.expiresAt = expiresAt
        self.maxClicks = maxClicks
        self.tags = tags
    }

    /// Longest target URL accepted (what browsers and proxies reliably handle).
    static let maximumURLLength = 2048
    /// Largest `max_clicks` accepted.
    static let maximumMaxClicks: Int64 = 1_000_000_000_000
    /// Shortest custom alias accepted.
    static let minimumAliasLength = 3
    /// Codes that would collide with the HTTP API's own paths.
    static let reservedAliases: Set<String> = [
        "api", "app", "create", "health", "metrics", "openapi", "openapi.yaml", "docs", "admin", "static",
        "favicon.ico",
        "robots.txt",
    ]

    /// Checks every field and returns the link to create, or the first problem found. The
    /// domain is the caller's to check (``ShortDomains/domainToCreateOn(_:)``): it asks Postgres.
    func validated(now: Date = Date()) throws(APIError) -> NewLink {
        guard let url else {
            throw APIError(.badRequest, "missing_url", "the body must have a string field 'url'", field: "url")
        }
        let target = try Self.validatedURL(url)
        let expiry = try expiresAt.map { text throws(APIError) in try Self.validatedExpiry(text, now: now) }
        if let alias {
            guard alias.utf8.count >= Self.minimumAliasLength, ShortCode.isWellFormed(alias) else {
                throw APIError(
                    .badRequest, "invalid_alias",
                    """
                    'alias' must be \(Self.minimumAliasLength)-\(ShortCode.maximumLength) characters of A-Z, a-z, 0-9, '_' or '-'
                    """, field: "alias")
            }
            guard !Self.reservedAliases.contains(alias.lowercased()) else {
                throw APIError(.badRequest, "reserved_alias", "'\(alias)' is reserved", field: "alias")
            }
        }
        if let maxClicks { try Self.validateMaxClicks(maxClicks) }
        return NewLink(
            url: target, alias: alias, expiresAt: expiry, maxClicks: maxClicks,
            tags: try Self.validatedTags(tags ?? []),
            redirect: RedirectOptions(
                status: try redirectType.map(Self.validatedRedirectType) ?? .found, forwardQuery: forwardQuery ?? true,
                crawlable: crawlable ?? false),
            title: try title.flatMap { text throws(APIError) in try Self.validatedText(text, field: "title") },
            notes: try notes.flatMap { text throws(APIError) in try Self.validatedText(text, field: "notes") },
            utm: try utm.flatMap { values throws(APIError) in try Self.validatedUTM(values) },
            routing: try Self.validatedRouting(rules: rules ?? [], split: split))
    }

    /// The stored form of a target URL (see ``TargetURL``), or why it cannot be one.
    static func validatedURL(_ url: String) throws(APIError) -> String {
        // Visible ASCII alone (nearly every URL) has nothing to trim and no space or control
        // character in it: Unicode's tables are consulted only for the rest.
        let visibleASCII = url.utf8.allSatisfy { $0 > 0x20 && $0 < 0x7F }
        let trimmed = visibleASCII ? url : url.trimmingCharacters(in: .whitespaces)
        guard !trimmed.isEmpty else { throw APIError(.badRequest, "missing_url", "'url' is empty", field: "url") }
        guard trimmed.utf8.count <= maximumURLLength else {
            throw APIError(.badRequest, "url_too_long", "'url' is longer than \(maximumURLLength) bytes", field: "url")
        }
        guard
            visibleASCII
                || !trimmed.unicodeScalars.contains(where: {
                    $0.properties.isWhitespace || $0.value < 0x20 || $0.value == 0x7F
                })
        else {
            throw APIError(.badRequest, "invalid_url", "'url' is not an absolute URL", field: "url")
        }
        let target: String
        do {
            target = try TargetURL.normalized(trimmed)
        } catch {
            throw APIError(.badRequest, error.code, error.message, field: "url")
        }
        guard target.utf8.count <= maximumURLLength else {
            throw APIError(
                .badRequest, "url_too_long", "'url' is longer than \(maximumURLLength) bytes once encoded", field: "url"
            )
        }
        return target
    }

    /// An `expires_at` in the future and before the year 10000.
    static func validatedExpiry(_ text: String, now: Date) throws(APIError) -> Date {
        guard let parsed = try? RFC3339.parse(text) else {
            throw APIError(
                .badRequest, "invalid_expires_at", "'expires_at' must be an RFC 3339 time", field: "expires_at")
        }
        guard parsed > now else {
            throw APIError(.badRequest, "invalid_expires_at", "'expires_at' is in the past", field: "expires_at")
        }
        guard parsed < LinkLimits.latestExpiry else {
            throw APIError(
                .badRequest, "invalid_expires_at", "'expires_at' must be before the year 10000", field: "expires_at")
        }
        return parsed
    }

    /// A `max_clicks` of 1 up to ``maximumMaxClicks``.
    static func validateMaxClicks(_ maxClicks: Int64) throws(APIError) {
        guard (1...maximumMaxClicks).contains(maxClicks) else {
            throw APIError(
                .badRequest, "invalid_max_clicks", "'max_clicks' must be between 1 and \(maximumMaxClicks)",
                field: "max_clicks")
        }
    }

    /// Longest `title`, in characters, and longest `notes`, in bytes.
    static let maximumTitleLength = 512
    static let maximumNotesBytes = 4096

    /// A `title` (up to 512 characters) or `notes` (up to 4 KiB): text without control
    /// characters but line breaks and tabs (in notes); empty means none.
    static func validatedText(_ text: String, field: String) throws(APIError) -> String? {
        guard !text.isEmpty else { return nil }
        let fits = field == "title" ? text.count <= maximumTitleLength : text.utf8.count <= maximumNotesBytes
        let allowed: (Unicode.Scalar) -> Bool = { scalar in
            (scalar.value >= 0x20 && scalar.value != 0x7F) || (field == "notes" && (scalar == "\n" || scalar == "\t"))
        }
        guard fits, text.unicodeScalars.allSatisfy(allowed) else {
            let limit = field == "title" ? "\(maximumTitleLength) characters" : "\(maximumNotesBytes) bytes"
            throw APIError(
                .badRequest, "invalid_\(field)", "'\(field)' must be at most \(limit) without control characters",
                field: field)
        }
        return text
    }

    /// `utm` as ``UTMParameters`` takes it; an empty object means none.
    static func validatedUTM(_ values: [String: String]) throws(APIError) -> UTMParameters? {
        guard !values.isEmpty else { return nil }
        do {
            return try UTMParameters(values)
        } catch {
            throw APIError(.badRequest, "invalid_utm", error.message, field: "utm")
        }
    }

    /// A `redirect_type`: 301, 302, 307 or 308.
    static func validatedRedirectType(_ value: Int) throws(APIError) -> RedirectOptions.Status {
        guard let status = RedirectOptions.Status(rawValue: value) else {
            throw APIError(
                .badRequest, "invalid_redirect_type", "'redirect_type' must be 301, 302, 307 or 308",
                field: "redirect_type")
        }
        return status
    }

    /// Tags as ``LinkTags`` allows them, in the order given.
    static func validatedTags(_ tags: [String]) throws(APIError) -> [String] {
        if let problem = LinkTags.problem(with: tags) {
            throw APIError(.badRequest, "invalid_tags", problem, field: "tags")
        }
        return tags
    }
}
