import Foundation
import Hummingbird
import SharedLinks
import SharedPostgres
import SharedResilience
import SharedService

/// The links API beyond creation: `GET /api/links/<code>`, `GET /api/links?limit=&cursor=&tag=&q=`
/// (newest first, keyset pages, `q` found in the code or the target), `PATCH /api/links/<code>` (with `If-Match: "<revision>"`)
/// and `DELETE /api/links/<code>`, added to the `/api` group, whose ``APIKeyMiddleware``
/// checks the caller's key. A link's answers carry `ETag: "<revision>"`.
struct LinksAPIController: Sendable {
    let repository: LinkRepository
    /// Base of the `short_url` of each link, as in the create answers.
    let publicBaseURL: String

    /// Most links per page, and the default.
    static let maximumPageSize = 100
    static let defaultPageSize = 20

    /// The answer for one link.
    struct LinkDetails: ResponseEncodable, Equatable {
        /// Where a link stands.
        enum Status: String, Codable, Sendable {
            case active, expired, exhausted, deleted
        }

        let code: String
        let url: String
        let createdAt: Date
        let expiresAt: Date?
        let maxClicks: Int64?
        let tags: [String]
        /// Grows with every change; `If-Match` names it.
        let revision: Int64
        let clicks: Int64
        let status: Status
        /// Where the link redirects from; set by the controller, which knows the public base.
        var shortURL: String?

        enum CodingKeys: String, CodingKey {
            case code, url, tags, revision, clicks, status
            case shortURL = "short_url"
            case createdAt = "created_at"
            case expiresAt = "expires_at"
            case maxClicks = "max_clicks"
        }

        /// Writes `expires_at` and `max_clicks` as `null` when unset: every field is always there.
        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(code, forKey: .code)
            try container.encodeIfPresent(shortURL, forKey: .shortURL)
            try container.encode(url, forKey: .url)
            try container.encode(createdAt, forKey: .createdAt)
            try container.encode(expiresAt, forKey: .expiresAt)
            try container.encode(maxClicks, forKey: .maxClicks)
            try container.encode(tags, forKey: .tags)
            try container.encode(revision, forKey: .revision)
            try container.encode(clicks, forKey: .clicks)
            try container.encode(status, forKey: .status)
        }
    }

    /// One page of links.
    struct Page: ResponseEncodable {
        let links: [LinkDetails]
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
    static let maximumEditSize = 16 * 1024

    func addRoutes(to router: some RouterMethods<AppRequestContext>) {
        router.get("links/:code") { request, context in
            let code = try context.linkCode()
            guard
                let details = try await storeCall(context, "Reading a link", { try await repository.details(of: code) })
            else { throw APIError.unknownCode }
            return try Self.answer(withShortURL(details), to: request, context: context)
        }
        router.patch("links/:code") { request, context in
            try await edit(request, context: context)
        }
        router.get("links") { request, context in
            let limit = try Self.pageSize(request.uri.queryParameters.get("limit"))
            let tag = try Self.tag(request.uri.queryParameters.get("tag"))
            let search = try Self.search(request.uri.queryParameters.get("q"))
            let cursor = try request.uri.queryParameters.get("cursor").map { token in
                guard let cursor = LinkCursor(token: token) else {
                    throw APIError(.badRequest, "invalid_cursor", "'cursor' is not a cursor this API returned")
                }
                return cursor
            }
            let links = try await storeCall(context, "Listing links") {
                try await repository.list(limit: limit + 1, after: cursor, tag: tag, containing: search)
            }
            let page = links.prefix(limit).map(withShortURL)
            let next =
                links.count > limit ? page.last.map { LinkCursor(createdAt: $0.createdAt, code: $0.code).token } : nil
            return Page(links: page, nextCursor: next)
        }
        router.delete("links/:code") { _, context in
            let code = try context.linkCode()
            switch try await storeCall(context, "Deleting a link", { try await repository.delete(code) }) {
            case .deleted:
                context.logger.info("Deleted link", metadata: ["link.code": "\(code)"])
                return HTTPResponse.Status.noContent
            case .alreadyDeleted:
                return HTTPResponse.Status.noContent
            case .notFound:
                throw APIError.unknownCode
            }
        }
    }

    /// `PATCH /api/links/<code>`: the edit, checked as create checks its fields, applied in one
    /// transaction with its `link.updated` event.
    func edit(_ request: Request, context: AppRequestContext) async throws -> Response {
        let code = try context.linkCode()
        let expected = try request.headers[.ifMatch].map(Self.revision(ifMatch:))
        let (edit, _) = try await JSONRequestBody.decode(
            LinkEdit.self, from: request, limit: Self.maximumEditSize,
            expected: "a JSON object with some of url, expires_at, max_clicks and tags")
        let change = try edit.validated()
        let outcome = try await storeCall(context, "Editing a link") {
            try await repository.update(code, with: change, expectedRevision: expected ?? nil)
        }
        switch outcome {
        case .edited(let details):
            context.logger.info(
                "Edited link", metadata: ["link.code": "\(code)", "link.revision": "\(details.revision)"])
            return try Self.answer(withShortURL(details), to: request, context: context)
        case .notFound:
            throw APIError.unknownCode
        case .deleted:
            throw APIError(.gone, "deleted", "the link was deleted; it cannot be edited")
        case .revisionMismatch(let current):
            var error = APIError(
                .preconditionFailed, "revision_mismatch",
                "the link is at revision \(current), not the one in If-Match; read it again and retry")
            error.headers[.eTag] = "\"\(current)\""
            throw error
        }
    }

    /// A link's answer, with its revision as `ETag`.
    /// `details` with its `short_url`.
    private func withShortURL(_ details: LinkDetails) -> LinkDetails {
        var details = details
        details.shortURL = "\(publicBaseURL)/\(details.code)"
        return details
    }

    private static func answer(_ details: LinkDetails, to request: Request, context: AppRequestContext) throws
        -> Response
    {
        var response = try details.response(from: request, context: context)
        response.headers[.eTag] = "\"\(details.revision)\""
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

    /// `limit`: 1 to ``maximumPageSize``, ``defaultPageSize`` when absent.
    static func pageSize(_ text: String?) throws -> Int {
        guard let text else { return defaultPageSize }
        guard let value = Int(text), (1...maximumPageSize).contains(value) else {
            throw APIError(.badRequest, "invalid_limit", "'limit' must be a whole number from 1 to \(maximumPageSize)")
        }
        return value
    }
}

/// Runs a Postgres-backed step of a request: API errors pass through, an open breaker becomes
/// `503` with `Retry-After`, anything else is logged and becomes `503`.
extension AppRequestContext {
    /// The `:code` of a link's route; `404` when it cannot even be a code.
    func linkCode() throws -> String {
        let code = try parameters.require("code")
        guard ShortCode.isWellFormed(code) else { throw APIError.unknownCode }
        return code
    }
}

func storeCall<Value>(
    _ context: AppRequestContext, _ what: String, _ body: () async throws -> Value
) async throws -> Value {
    do {
        return try await body()
    } catch let error as APIError {
        throw error
    } catch let open as CircuitOpenError {
        throw APIError.unavailable(open)
    } catch  where error.isStatementTimeout {
        // The query class's own timeout: what the caller asked for is too costly.
        context.logger.notice("\(what): the statement timed out", metadata: ["error": "\(String(reflecting: error))"])
        throw APIError(
            .badRequest, "search_too_slow", "the search took too long; search for something more specific")
    } catch  where error.postgresSQLState?.hasPrefix("22") == true {
        // Data the database refuses (a NUL byte, an out-of-range value) that validation let through.
        context.logger.warning("\(what): a value was refused", metadata: ["error": "\(String(reflecting: error))"])
        throw APIError(.badRequest, "invalid_value", "a value in the request cannot be stored")
    } catch {
        context.logger.error("\(what) failed", metadata: ["error": "\(String(reflecting: error))"])
        throw APIError.unavailable("the link store is unavailable; try again")
    }
}
