import Foundation
import Hummingbird
import SharedLinks
import SharedPostgres
import SharedResilience
import SharedService

/// The links API beyond creation: `GET /api/links/<code>`, `GET /api/links?limit=&cursor=`
/// (newest first, keyset pages) and `DELETE /api/links/<code>`, added to the `/api` group,
/// whose ``APIKeyMiddleware`` checks the caller's key.
struct LinksAPIController: Sendable {
    let repository: LinkRepository

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
        let clicks: Int64
        let status: Status

        enum CodingKeys: String, CodingKey {
            case code, url, clicks, status
            case createdAt = "created_at"
            case expiresAt = "expires_at"
            case maxClicks = "max_clicks"
        }

        /// Writes `expires_at` and `max_clicks` as `null` when unset: every field is always there.
        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(code, forKey: .code)
            try container.encode(url, forKey: .url)
            try container.encode(createdAt, forKey: .createdAt)
            try container.encode(expiresAt, forKey: .expiresAt)
            try container.encode(maxClicks, forKey: .maxClicks)
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

    func addRoutes(to router: some RouterMethods<AppRequestContext>) {
        router.get("links/:code") { _, context in
            let code = try context.parameters.require("code")
            guard ShortCode.isWellFormed(code) else { throw APIError.unknownCode }
            guard
                let details = try await storeCall(context, "Reading a link", { try await repository.details(of: code) })
            else { throw APIError.unknownCode }
            return details
        }
        router.get("links") { request, context in
            let limit = try Self.pageSize(request.uri.queryParameters.get("limit"))
            let cursor = try request.uri.queryParameters.get("cursor").map { token in
                guard let cursor = LinkCursor(token: token) else {
                    throw APIError(.badRequest, "invalid_cursor", "'cursor' is not a cursor this API returned")
                }
                return cursor
            }
            let links = try await storeCall(context, "Listing links") {
                try await repository.list(limit: limit + 1, after: cursor)
            }
            let page = Array(links.prefix(limit))
            let next =
                links.count > limit ? page.last.map { LinkCursor(createdAt: $0.createdAt, code: $0.code).token } : nil
            return Page(links: page, nextCursor: next)
        }
        router.delete("links/:code") { _, context in
            let code = try context.parameters.require("code")
            guard ShortCode.isWellFormed(code) else { throw APIError.unknownCode }
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
func storeCall<Value>(
    _ context: AppRequestContext, _ what: String, _ body: () async throws -> Value
) async throws -> Value {
    do {
        return try await body()
    } catch let error as APIError {
        throw error
    } catch let open as CircuitOpenError {
        throw APIError.unavailable(open)
    } catch  where error.postgresSQLState?.hasPrefix("22") == true {
        // Data the database refuses (a NUL byte, an out-of-range value) that validation let through.
        context.logger.warning("\(what): a value was refused", metadata: ["error": "\(String(reflecting: error))"])
        throw APIError(.badRequest, "invalid_value", "a value in the request cannot be stored")
    } catch {
        context.logger.error("\(what) failed", metadata: ["error": "\(String(reflecting: error))"])
        throw APIError.unavailable("the link store is unavailable; try again")
    }
}
