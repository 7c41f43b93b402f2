import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import SharedService

/// What every create checks before it writes, for `POST /create` and `POST /api/links/bulk`
/// alike: the caller's API key, its rate limit (one token per link), and the request's
/// `Idempotency-Key`.
struct CreateAdmission: Sendable {
    let keys: APIKeyGuard
    let limiter: RateLimiter
    /// Whose `X-Forwarded-For` names the client that a rate limit without keys counts.
    let trustedProxies: TrustedProxies

    /// Longest `Idempotency-Key` accepted.
    static let maximumIdempotencyKeyLength = 255

    /// The authenticated caller, once it may create `links` links now; `401` without a valid
    /// key (once keys exist), `429` with `Retry-After` over the rate limit.
    func admit(_ request: Request, context: AppRequestContext, links: Int) async throws -> APIKeyGuard.Caller {
        let (caller, client) = try await identify(request, context: context)
        let own = ownLimit(caller)
        try Self.limited { () throws(RateLimiter.Refusal) in try limiter.acquire(for: client, cost: links, own: own) }
        return caller
    }

    /// The checks of ``admit(_:context:links:)`` that need no body, taking no token: a caller
    /// without a valid key, or with none left, is refused before its body is read and decoded.
    func precheck(_ request: Request, context: AppRequestContext) async throws {
        let (caller, client) = try await identify(request, context: context)
        let own = ownLimit(caller)
        try Self.limited { () throws(RateLimiter.Refusal) in try limiter.check(for: client, own: own) }
    }

    /// The caller's key's own create limit, each part it leaves out the master's; nil when it
    /// has none.
    private func ownLimit(_ caller: APIKeyGuard.Caller) -> RateLimiter.Settings? {
        guard case .key(let key) = caller, key.createRateLimit != nil || key.createBurst != nil else { return nil }
        return RateLimiter.Settings(
            perSecond: key.createRateLimit ?? limiter.settings.perSecond,
            burst: key.createBurst.map(Double.init) ?? limiter.settings.burst)
    }

    /// The authenticated caller and who its rate limit counts: its key, or its address without keys.
    private func identify(_ request: Request, context: AppRequestContext) async throws -> (
        APIKeyGuard.Caller, String
    ) {
        let caller = try await keys.authenticate(request.headers[.authorization])
        let client: String =
            switch caller {
            case .key(let key): key.id
            case .anonymous:
                trustedProxies.clientAddress(
                    socket: context.remoteAddress, forwardedFor: request.headers[.xForwardedFor]) ?? "unknown"
            }
        return (caller, client)
    }

    /// Runs a rate-limit step, turning its refusal into `429` with `Retry-After`.
    private static func limited(_ step: () throws(RateLimiter.Refusal) -> Void) throws(APIError) {
        do {
            try step()
        } catch {
            var refusal = APIError(.tooManyRequests, "rate_limited", "too many creates; slow down")
            refusal.headers[.retryAfter] = String(max(1, Int(error.retryAfter.inSeconds.rounded(.up))))
            throw refusal
        }
    }

    /// The request's `Idempotency-Key`, scoped to `caller`, with the hash of `body` (a retry
    /// must send the same request); nil without the header, `400` when it is malformed.
    static func idempotencyKey(_ request: Request, body: ByteBuffer, caller: APIKeyGuard.Caller) throws
        -> IdempotencyKey?
    {
        try request.headers[.idempotencyKey].map { key in
            guard !key.isEmpty, key.utf8.count <= maximumIdempotencyKeyLength,
                key.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F })
            else {
                throw APIError(
                    .badRequest, "invalid_idempotency_key",
                    "'Idempotency-Key' must be 1-\(maximumIdempotencyKeyLength) visible ASCII characters")
            }
            let scope = if case .key(let key) = caller { key.id } else { "" }
            return IdempotencyKey(
                scope: scope, key: key, requestHash: Array(SHA256.hash(data: Data(buffer: body))))
        }
    }
}

extension HTTPField.Name {
    /// `Idempotency-Key`: makes a retried create return the first one's answer.
    static let idempotencyKey = Self("Idempotency-Key")!
    /// `Idempotent-Replayed: true` on the answer to a retried create.
    static let idempotentReplayed = Self("Idempotent-Replayed")!
}
