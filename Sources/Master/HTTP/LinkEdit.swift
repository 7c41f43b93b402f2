import Foundation
import SharedLinks
import SharedService

/// The body of `PATCH /api/links/<code>`: the fields to change, each checked as on create.
/// A field left out keeps its value; `null` clears `expires_at` or `max_clicks`. Unknown fields
/// are refused, so that a misspelt field cannot silently change nothing.
struct LinkEdit: Decodable, Sendable {
    var url: String?
    var expiresAt: FieldChange<String> = .keep
    var maxClicks: FieldChange<Int64> = .keep
    var tags: [String]?
    var redirectType: Int?
    var forwardQuery: Bool?
    var crawlable: Bool?
    var title: FieldChange<String> = .keep
    var notes: FieldChange<String> = .keep
    var utm: FieldChange<[String: String]> = .keep
    /// The domain to move the link to (a host name; the default domain's host moves it there).
    var domain: String?
    /// The new rules (`[]` removes them).
    var rules: [RedirectRule]?
    /// The link's own split (`null` removes it).
    var split: FieldChange<[WeightedTarget]> = .keep
    /// A new password (`null`: none needed any more), hashed by ``LinkPasswords``.
    var password: FieldChange<String> = .keep

    private enum CodingKeys: String, CodingKey, CaseIterable {
        case url, tags, crawlable, title, notes, utm, domain, rules, split, password
        case expiresAt = "expires_at"
        case maxClicks = "max_clicks"
        case redirectType = "redirect_type"
        case forwardQuery = "forward_query"
    }

    init(
        url: String? = nil, expiresAt: FieldChange<String> = .keep, maxClicks: FieldChange<Int64> = .keep,
        tags: [String]? = nil
    ) {
        self.url = url
        self.expiresAt = expiresAt
        self.maxClicks = maxClicks
        self.tags = tags
    }

    init(from decoder: any Decoder) throws {
        try KnownFields.check(decoder, against: CodingKeys.self, subject: "an edit")
        let container = try decoder.container(keyedBy: CodingKeys.self)
        if container.contains(.url) {
            guard try !container.decodeNil(forKey: .url) else {
                throw APIError(.badRequest, "missing_url", "'url' cannot be null", field: "url")
            }
            url = try container.decode(String.self, forKey: .url)
        }
        expiresAt = try Self.change(container, .expiresAt)
        maxClicks = try Self.change(container, .maxClicks)
        if container.contains(.tags) {
            guard try !container.decodeNil(forKey: .tags) else {
                throw APIError(.badRequest, "invalid_tags", "'tags' cannot be null; send [] for no tags", field: "tags")
            }
            tags = try container.decode([String].self, forKey: .tags)
        }
        redirectType = try container.decodeIfPresent(Int.self, forKey: .redirectType)
        forwardQuery = try container.decodeIfPresent(Bool.self, forKey: .forwardQuery)
        crawlable = try container.decodeIfPresent(Bool.self, forKey: .crawlable)
        title = try Self.change(container, .title)
        notes = try Self.change(container, .notes)
        utm = try Self.change(container, .utm)
        if container.contains(.rules) {
            guard try !container.decodeNil(forKey: .rules) else {
                throw APIError(.badRequest, "invalid_rules", "'rules' cannot be null; send [] for none", field: "rules")
            }
            rules = try LinkRequest.routingPart(field: "rules") {
                try container.decode([RedirectRule].self, forKey: .rules)
            }
        }
        split = try LinkRequest.routingPart(field: "split") { try Self.change(container, .split) }
        password = try Self.change(container, .password)
        if container.contains(.domain) {
            guard try !container.decodeNil(forKey: .domain) else {
                throw APIError(
                    .badRequest, "invalid_domain", "'domain' cannot be null; name the domain's host", field: "domain")
            }
            domain = try container.decode(String.self, forKey: .domain)
        }
    }

    private static func change<Value: Decodable & Sendable & Equatable>(
        _ container: KeyedDecodingContainer<CodingKeys>, _ key: CodingKeys
    ) throws -> FieldChange<Value> {
        guard container.contains(key) else { return .keep }
        if try container.decodeNil(forKey: key) { return .clear }
        return .set(try container.decode(Value.self, forKey: key))
    }

    /// Checks every field as create does and returns the change to make, or the first problem.
    /// The `domain` is the caller's to check (``ShortDomains/domainToCreateOn(_:)``): it asks
    /// Postgres; a new `password` is the caller's to hash (``LinkPasswords``).
    func validated(now: Date = Date()) throws(APIError) -> LinkChange {
        var edit = LinkChange(
            url: try url.map { url throws(APIError) in try LinkRequest.validatedURL(url) },
            expiresAt: try {
                () throws(APIError) -> FieldChange<Date> in
                switch expiresAt {
                case .keep: return .keep
                case .clear: return .clear
                case .set(let text): return .set(try LinkRequest.validatedExpiry(text, now: now))
                }
            }(),
            maxClicks: try {
                () throws(APIError) -> FieldChange<Int64> in
                if case .set(let value) = maxClicks { try LinkRequest.validateMaxClicks(value) }
                return maxClicks
            }(),
            tags: try tags.map { tags throws(APIError) in try LinkRequest.validatedTags(tags) },
            redirectStatus: try redirectType.map { value throws(APIError) in
                try LinkRequest.validatedRedirectType(value)
            },
            forwardQuery: forwardQuery, crawlable: crawlable,
            title: try Self.validated(title) { text throws(APIError) in
                try LinkRequest.validatedText(text, field: "title")
            },
            notes: try Self.validated(notes) { text throws(APIError) in
                try LinkRequest.validatedText(text, field: "notes")
            },
            utm: try Self.validated(utm) { values throws(APIError) in try LinkRequest.validatedUTM(values) })
        if rules != nil || split != .keep {
            // Checked as one routing; the link's other half is checked with it by the store.
            let checked = try LinkRequest.validatedRouting(rules: rules ?? [], split: split.newValue)
            edit.rules = rules.map { _ in checked.rules }
            edit.split = split == .keep ? .keep : checked.split.map { .set($0) } ?? .clear
        }
        if password == .clear { edit.passwordHash = .clear }
        guard edit != LinkChange() || domain != nil || password != .keep else {
            throw APIError(
                .badRequest, "empty_edit",
                "the body must change at least one of url, expires_at, max_clicks, tags, redirect_type, forward_query, crawlable, title, notes, utm, rules, split, password, domain"
            )
        }
        return edit
    }

    /// A field's change checked by `check`; a set value that `check` makes nil (empty) clears it.
    private static func validated<Value: Sendable & Equatable, Checked: Sendable & Equatable>(
        _ change: FieldChange<Value>, _ check: (Value) throws(APIError) -> Checked?
    ) throws(APIError) -> FieldChange<Checked> {
        switch change {
        case .keep: return .keep
        case .clear: return .clear
        case .set(let value): return try check(value).map { .set($0) } ?? .clear
        }
    }
}
