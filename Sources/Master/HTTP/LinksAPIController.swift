import Foundation
import Hummingbird
import SharedLinks
import SharedPostgres
import SharedResilience
import SharedService

/// The links API beyond creation: `GET /api/links/<code>`,
/// `GET /api/links?limit=&cursor=&domain=&tag=&q=` (newest first, keyset pages, `q` found in the
/// code or the target), the same selection as CSV (`GET /api/links.csv`),
/// `PATCH /api/links/<code>` (with `If-Match: "<revision>"`) and `DELETE /api/links/<code>`, added to the `/api` group, whose ``APIKeyMiddleware`` checks the
/// caller's key. A link on a domain other than the default one is named with `?domain=`.
/// A link's answers carry `ETag: "<revision>"`.
struct LinksAPIController: Sendable {
    let repository: any LinkRepository
    /// The domains, for `?domain=` and each link's `short_url`.
    let domains: ShortDomains

    /// Links per page: 20 unless asked, at most 100.
    static let pageLimit = PageLimit(standard: 20, maximum: 100)

    /// The answer for one link: every field of the ``Link``, its domain's host and its `short_url`.
    struct LinkAnswer: ResponseEncodable, Equatable {
        let link: Link
        /// The host name of the link's domain.
        let domain: String
        /// Where the link redirects from.
        let shortURL: String

        enum CodingKeys: String, CodingKey {
            case code, domain, url, tags, revision, clicks, status, crawlable, title, notes, utm, rules, split
            case passwordProtected = "password_protected"
            case redirectType = "redirect_type"
            case forwardQuery = "forward_query"
            case shortURL = "short_url"
            case createdAt = "created_at"
            case expiresAt = "expires_at"
            case maxClicks = "max_clicks"
            case createdBy = "created_by"
        }

        /// Writes `expires_at`, `max_clicks` and `created_by` as `null` when unset: every field
        /// is always there.
        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(link.code, forKey: .code)
            try container.encode(domain, forKey: .domain)
            try container.encode(shortURL, forKey: .shortURL)
            try container.encode(link.url, forKey: .url)
            try container.encode(link.createdAt, forKey: .createdAt)
            try container.encode(link.expiresAt, forKey: .expiresAt)
            try container.encode(link.maxClicks, forKey: .maxClicks)
            try container.encode(link.tags, forKey: .tags)
            try container.encode(link.redirect.status.rawValue, forKey: .redirectType)
            try container.encode(link.redirect.forwardQuery, forKey: .forwardQuery)
            try container.encode(link.redirect.crawlable, forKey: .crawlable)
            try container.encode(link.title, forKey: .title)
            try container.encode(link.notes, forKey: .notes)
            try container.encode(link.utm?.values ?? [:], forKey: .utm)
            try container.encode(link.routing.rules, forKey: .rules)
            try container.encode(link.routing.split, forKey: .split)
            try container.encode(link.passwordProtected, forKey: .passwordProtected)
            try container.encode(link.revision, forKey: .revision)
            try container.encode(link.clicks, forKey: .clicks)
            try container.encode(link.status, forKey: .status)
            try container.encode(link.createdBy.map { ["id": $0.id, "name": $0.name] }, forKey: .createdBy)
        }
    }

    /// One page of links.
    struct Page: ResponseEncodable {
        let links: [LinkAnswer]
        /// Pass as `cursor` for the next page; null on the last page.
        let nextCursor: String?

        enum CodingKeys: String, CodingKey {
            case links
            case nextCursor = "next_cursor"
        }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(links, forKey: .links)
            try container.encode(nextCursor, forKey: .nextCursor)
        }
    }

    /// Largest `PATCH` body accepted.
    static let maximumEditSize = 64 * 1024

    /// The routes, for the `/api` group.
    var routes: RouteCollection<AppRequestContext> {
        let routes = RouteCollection(context: AppRequestContext.self)
        routes.get("links/:code") { request, context in
            let address = try context.linkAddress(request, domains: domains)
            guard let link = try await repository.link(address) else { throw APIError.unknownCode }
            return try Self.answer(answer(for: link), to: request, context: context)
        }
        routes.patch("links/:code") { request, context in
            try await edit(request, context: context)
        }
        routes.get("links") { request, context in
            try await list(request, context: context)
        }
        routes.get("links.csv") { request, context in
            try await export(request, context: context)
        }
        routes.delete("links/:code") { request, context in
            let address = try context.linkAddress(request, domains: domains)
            switch try await repository.delete(address) {
            case .deleted:
                context.logger.info("Deleted link", metadata: ["link.key": "\(address)"])
                return HTTPResponse.Status.noContent
            case .alreadyDeleted:
                return HTTPResponse.Status.noContent
            case .notFound:
                throw APIError.unknownCode
            }
        }
        return routes
    }

    /// `GET /api/links`: one page, newest first.
    func list(_ request: Request, context: AppRequestContext) async throws -> Page {
        let query = request.uri.queryParameters
        let limit = try Self.pageLimit.parse(query.get("limit"))
        let filter = try filter(query)
        let cursor = try query.get("cursor").map { token in
            guard let cursor = LinkCursor(token: token) else {
                throw APIError(.badRequest, "invalid_cursor", "'cursor' is not a cursor this API returned")
            }
            return cursor
        }
        let links = try await repository.list(limit: limit + 1, after: cursor, filter: filter)
        let page = links.prefix(limit)
        let next =
            links.count > limit ? page.last.map { LinkCursor(createdAt: $0.createdAt, key: $0.address.key).token } : nil
        return Page(links: page.map(answer(for:)), nextCursor: next)
    }

    /// The listing's filters: `domain`, `tag` and `q`.
    private func filter(_ query: Parameters) throws -> LinkFilter {
        LinkFilter(
            domain: try query.get("domain").map(domains.storedName), tag: try Self.tag(query.get("tag")),
            search: try Self.search(query.get("q")))
    }

    /// Links read per page of an export.
    static let exportPageSize = 1000

    /// `GET /api/links.csv?domain=&tag=&q=`: every link the same filters list, newest first, as
    /// ``LinkCSV`` (what `master links import` reads back), streamed a page at a time in flat
    /// memory. The first page is read before the answer starts, so that a bad filter, a slow
    /// search or Postgres being down still answer with their status; a failure later cuts the
    /// download short (the client sees an incomplete body, never a wrong one).
    func export(_ request: Request, context: AppRequestContext) async throws -> Response {
        let filter = try filter(request.uri.queryParameters)
        let repository = self.repository
        let pageSize = Self.exportPageSize
        let first = try await repository.list(limit: pageSize, after: nil, filter: filter)
        let scope = AccessScope.current
        let body = ResponseBody { writer in
            // Written after the handler returned: the next pages are read in its scope all the same.
            try await AccessScope.$current.withValue(scope) {
                var buffer: [UInt8] = []
                CSVWriter.append(LinkCSV.exportColumns, to: &buffer)
                var page = first
                while true {
                    for link in page { CSVWriter.append(LinkCSV.exportRecord(link), to: &buffer) }
                    try await writer.write(ByteBuffer(bytes: buffer))
                    buffer.removeAll(keepingCapacity: true)
                    guard page.count == pageSize, let last = page.last else { break }
                    page = try await repository.list(
                        limit: pageSize, after: LinkCursor(createdAt: last.createdAt, key: last.address.key),
                        filter: filter)
                }
                try await writer.finish(nil)
            }
        }
        return Response(
            status: .ok,
            headers: [
                .contentType: "text/csv; charset=utf-8", .contentDisposition: "attachment; filename=\"links.csv\"",
                .cacheControl: "no-store",
            ], body: body)
    }

    /// `PATCH /api/links/<code>`: the edit, checked as create checks its fields, applied in one
    /// transaction with its `link.updated` event.
    func edit(_ request: Request, context: AppRequestContext) async throws -> Response {
        let address = try context.linkAddress(request, domains: domains)
        let expected = try request.headers[.ifMatch].map(Self.revision(ifMatch:))
        let (edit, _) = try await JSONRequestBody.decode(
            LinkEdit.self, from: request, limit: Self.maximumEditSize,
            expected: "a JSON object with some of url, expires_at, max_clicks, tags, title, domain, …")
        var change = try edit.validated()
        if case .set(let password) = edit.password {
            change.passwordHash = .set(try await LinkPasswords.hash(password))
        }
        if let domain = edit.domain { change.domain = try await domains.domainToCreateOn(domain) ?? "" }
        switch try await repository.update(address, with: change, expectedRevision: expected ?? nil) {
        case .edited(let link):
            context.logger.info(
                "Edited link", metadata: ["link.key": "\(address)", "link.revision": "\(link.revision)"])
            return try Self.answer(answer(for: link), to: request, context: context)
        case .notFound:
            throw APIError.unknownCode
        case .deleted:
            throw APIError(.gone, "deleted", "the link was deleted; it cannot be edited")
        case .addressTaken(let taken):
            throw APIError(
                .conflict, "code_taken",
                "\(domains.host(of: taken.domain)) already has a link with the code '\(taken.code)' (codes are never reused); the link stays where it is",
                field: "domain")
        case .revisionMismatch(let current):
            var error = APIError(
                .preconditionFailed, "revision_mismatch",
                "the link is at revision \(current), not the one in If-Match; read it again and retry")
            error.headers[.eTag] = "\"\(current)\""
            throw error
        }
    }

    /// `link` with its domain's host and its `short_url`.
    private func answer(for link: Link) -> LinkAnswer {
        LinkAnswer(link: link, domain: domains.host(of: link.address.domain), shortURL: domains.shortURL(link.address))
    }

    /// A link's answer, with its revision as `ETag`.
    private static func answer(_ answer: LinkAnswer, to request: Request, context: AppRequestContext) throws
        -> Response
    {
        var response = try answer.response(from: request, context: context)
        response.headers[.eTag] = "\"\(answer.link.revision)\""
        return response
    }

    /// The revision an `If-Match` names: `"7"` (an ETag of ours), `W/"7"` or `7`; nil for `*`
    /// (any existing link).
    static func revision(ifMatch value: String) throws -> Int64? {
        var text = value.trimmingCharacters(in: .whitespaces)
        if text == "*" { return nil }
        if text.hasPrefix("W/") { text.removeFirst(2) }
        if text.count >= 2, text.hasPrefix("\""), text.hasSuffix("\"") { text = String(text.dropFirst().dropLast()) }
        guard text.utf8.count <= 19, let revision = Int64(text), revision >= 1 else {
            throw APIError(
                .badRequest, "invalid_if_match", "'If-Match' must be a link's ETag, e.g. \"3\" from its last answer")
        }
        return revision
    }

    /// A `tag` query parameter: nil when absent, `400 invalid_tag` when no tag can look so.
    static func tag(_ text: String?) throws -> String? {
        try text.map { tag in
            guard LinkTags.isWellFormed(tag) else {
                throw APIError(
                    .badRequest, "invalid_tag",
                    "'tag' must be 1-\(LinkTags.maximumLength) characters of a-z, 0-9, '-' or '_'")
            }
            return tag
        }
    }

    /// Longest `q`, in characters.
    static let maximumSearchLength = 200
    /// Shortest `q`: the trigram indexes that keep a search fast need three characters; a
    /// shorter text that matches nothing would read every link.
    static let minimumSearchLength = 3

    /// `q`: text to find in the code or the target URL, ignoring case; nil when absent or empty.
    static func search(_ text: String?) throws -> String? {
        guard let text, !text.isEmpty else { return nil }
        guard (minimumSearchLength...maximumSearchLength).contains(text.count),
            !text.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F })
        else {
            throw APIError(
                .badRequest, "invalid_q",
                "'q' must be \(minimumSearchLength) to \(maximumSearchLength) characters without control characters",
                field: "q")
        }
        return text
    }
}

extension AppRequestContext {
    /// The `:code` of a link's route; `404` when it cannot even be a code.
    func linkCode() throws -> String {
        let code = try parameters.require("code")
        guard ShortCode.isWellFormed(code) else { throw APIError.unknownCode }
        return code
    }

    /// The link a route names: its `:code`, on the domain of `?domain=` (the default one when absent).
    func linkAddress(_ request: Request, domains: ShortDomains) throws -> LinkAddress {
        try domains.address(code: linkCode(), domain: request.uri.queryParameters.get("domain"))
    }
}
