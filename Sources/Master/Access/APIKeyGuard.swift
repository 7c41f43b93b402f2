import ArgumentParser
import Crypto
import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import PostgresNIO
import SharedConfiguration
import SharedEvents
import SharedJSON
import SharedLinks
import SharedPostgres
import SharedResilience
import SharedService

/// Checks `Authorization: Bearer <secret>` on `POST /create` and every `/api/` endpoint, reads
/// included. Until the first key is created, every caller is let in (a fresh install works
/// without set-up); from then on a valid key is required, even after every key was revoked.
/// The active keys are cached: reloaded after any change (``invalidate()``, which
/// ``KeyChangeListener`` calls on every master) and at least every ``refreshInterval``; a
/// missing key is looked up again at most once a second.
final class APIKeyGuard: Sendable {
    /// Who is calling.
    enum Caller: Equatable, Sendable {
        /// No key was needed (none is configured): every right.
        case anonymous
        /// The caller showed this key.
        case key(APIKeyIdentity)

        /// The key, as a change's actor; nil for an anonymous caller.
        var author: LinkAuthor? {
            guard case .key(let key) = self else { return nil }
            return LinkAuthor(id: key.id, name: key.name)
        }

        /// Goes on when the caller holds `right`; `403 forbidden` naming it otherwise.
        func require(_ right: AccessRight) throws(APIError) {
            guard case .key(let key) = self, !key.role.rights.contains(right) else { return }
            throw APIError(
                .forbidden, "forbidden",
                "this API key (role \(key.role.rawValue)) does not have the right '\(right.rawValue)'")
        }
    }

    private struct Cache {
        var keys = APIKeyStore.ActiveKeys()
        var loaded: ContinuousClock.Instant?
    }

    private let loadKeys: @Sendable () async throws -> APIKeyStore.ActiveKeys
    /// Notes each authenticated use of a key (``KeyUsageRecorder`` in the master).
    private let noteUse: @Sendable (String) -> Void
    private let logger: Logger
    /// Time a loaded key list is trusted. Default: 5 s.
    let refreshInterval: Duration
    private let cache = NIOLockedValueBox(Cache())

    /// A guard over the keys of `store`, noting their uses in `usage`.
    convenience init(store: APIKeyStore, usage: KeyUsageRecorder, refreshInterval: Duration = .seconds(5)) {
        self.init(
            refreshInterval: refreshInterval, logger: store.logger, loadKeys: store.activeKeys,
            noteUse: { usage.noteUse(of: $0) })
    }

    /// A guard over the keys `loadKeys` reads (the router tests' fixed keys).
    init(
        refreshInterval: Duration = .seconds(5), logger: Logger,
        loadKeys: @escaping @Sendable () async throws -> APIKeyStore.ActiveKeys,
        noteUse: @escaping @Sendable (String) -> Void = { _ in }
    ) {
        self.loadKeys = loadKeys
        self.noteUse = noteUse
        self.logger = logger
        self.refreshInterval = refreshInterval
    }

    /// The caller behind `authorization` (the header's value), or a 401 ``APIError`` (a 503
    /// one when the keys cannot be loaded).
    func authenticate(_ authorization: String?) async throws(APIError) -> Caller {
        var keys = try await currentKeys(maximumAge: refreshInterval)
        guard keys.required else { return .anonymous }
        guard let authorization, authorization.hasPrefix("Bearer ") else {
            throw Self.unauthorized("this endpoint needs 'Authorization: Bearer <API key>'")
        }
        let hash = APIKeyStore.hash(
            String(authorization.dropFirst("Bearer ".count)).trimmingCharacters(in: .whitespaces))
        if keys.byHash[hash] == nil { keys = try await currentKeys(maximumAge: .seconds(1)) }
        guard let key = keys.byHash[hash] else {
            throw Self.unauthorized("the API key is not valid (unknown or revoked)")
        }
        if let expiresAt = key.expiresAt, expiresAt <= Date() {
            throw Self.unauthorized("the API key expired at \(RFC3339.format(expiresAt))")
        }
        noteUse(key.id)
        return .key(key)
    }

    /// Forgets the cached keys: the next request reads them again (after a key changed here).
    func invalidate() {
        cache.withLockedValue { $0.loaded = nil }
    }

    private func currentKeys(maximumAge: Duration) async throws(APIError) -> APIKeyStore.ActiveKeys {
        let cached = cache.withLockedValue { $0 }
        if let loaded = cached.loaded, ContinuousClock.now - loaded < maximumAge { return cached.keys }
        do {
            let keys = try await loadKeys()
            cache.withLockedValue { $0 = Cache(keys: keys, loaded: .now) }
            return keys
        } catch {
            // A stale list is better than refusing every write while Postgres blips.
            guard cached.loaded != nil else {
                if let open = error as? CircuitOpenError { throw APIError.unavailable(open) }
                logger.error("Loading API keys failed", metadata: ["error": "\(String(reflecting: error))"])
                throw APIError.unavailable("the key store is unavailable; try again")
            }
            logger.warning("Reloading API keys failed; using the last list", metadata: ["error": "\(error)"])
            return cached.keys
        }
    }

    private static func unauthorized(_ message: String) -> APIError {
        var error = APIError(.unauthorized, "unauthorized", message)
        error.headers[.wwwAuthenticate] = "Bearer"
        return error
    }
}
