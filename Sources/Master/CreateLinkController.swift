import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import SharedService

/// `POST /create`: checks the caller's API key (when keys are configured) and rate limit,
/// validates the request and creates the link; an `Idempotency-Key` makes retries safe.
struct CreateLinkController: Sendable {
    let repository: LinkRepository
    let keys: APIKeyGuard
    let limiter: RateLimiter
    /// Base of the returned `short_url`, e.g. `http://localhost:8081`.
    let publicBaseURL: String

    /// Largest request body accepted.
    static let maximumBodySize = 16 * 1024
    /// Longest `Idempotency-Key` accepted.
    static let maximumIdempotencyKeyLength = 255

    /// The `201` body.
    struct Created: ResponseEncodable {
        let code: String
        let shortURL: String
        let url: String

        enum CodingKeys: String, CodingKey {
            case code, url
            case shortURL = "short_url"
        }
    }

    func addRoutes(to router: Router<AppRequestContext>) {
        router.post("create") { request, context in
            try await create(request, context: context)
        }
    }

    func create(_ request: Request, context: AppRequestContext) async throws -> Response {
        let caller = try await keys.authenticate(request.headers[.authorization])
        let client: String =
            switch caller {
            case .key(let id): id
            case .anonymous: context.remoteAddress ?? "unknown"
            }
        do {
            try limiter.acquire(for: client)
        } catch {
            var refusal = APIError(.tooManyRequests, "rate_limited", "too many creates; slow down")
            refusal.headers[.retryAfter] = String(max(1, Int(error.retryAfter.inSeconds.rounded(.up))))
            throw refusal
        }
        let (linkRequest, body) = try await JSONRequestBody.decode(
            LinkRequest.self, from: request, limit: Self.maximumBodySize,
            expected: "a JSON object like {\"url\": \"https://…\"}")
        let link = try linkRequest.validated()
        let idempotency = try request.headers[.idempotencyKey].map { key in
            guard !key.isEmpty, key.utf8.count <= Self.maximumIdempotencyKeyLength,
                key.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F })
            else {
                throw APIError(
                    .badRequest, "invalid_idempotency_key",
                    "'Idempotency-Key' must be 1-\(Self.maximumIdempotencyKeyLength) visible ASCII characters")
            }
            let scope = if case .key(let id) = caller { id } else { "" }
            return LinkRepository.IdempotencyKey(
                scope: scope, key: key, requestHash: Array(SHA256.hash(data: Data(buffer: body))))
        }
        let creation = try await storeCall(context, "Creating a link") {
            try await repository.create(link, idempotency: idempotency)
        }
        if creation.replayed {
            context.logger.info("Answered a repeated create", metadata: ["link.code": "\(creation.code)"])
        } else {
            context.logger.info("Created link", metadata: ["link.code": "\(creation.code)"])
        }
        let created = Created(code: creation.code, shortURL: "\(publicBaseURL)/\(creation.code)", url: link.url)
        var response = try EditedResponse(status: .created, response: created).response(from: request, context: context)
        if creation.replayed { response.headers[.idempotentReplayed] = "true" }
        return response
    }
}

extension HTTPField.Name {
    /// `Idempotency-Key`: makes a retried create return the first one's link.
    static let idempotencyKey = Self("Idempotency-Key")!
    /// `Idempotent-Replayed: true` on the answer to a retried create.
    static let idempotentReplayed = Self("Idempotent-Replayed")!
}
