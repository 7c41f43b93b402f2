import Foundation
import Hummingbird
import SharedJSON
import SharedService

/// `GET /api/keys`, `POST /api/keys`, `PATCH /api/keys/<id>` and `DELETE /api/keys/<id>`, in the
/// `/api` group behind the key check (``AccessRight/manageKeys``, admins only): what
/// `master keys` does, over HTTP. A new key's secret is in the `POST` answer and nowhere else;
/// a change or revocation made here is seen by this master's next request, and by the others'
/// through ``KeyChangeListener``. Also `GET /api/me`, every key's view of itself.
struct KeysController: Sendable {
    let store: APIKeyStore
    let keys: APIKeyGuard
    /// The short domains a key may be limited to.
    let domains: ShortDomains

    /// Largest body accepted.
    static let maximumBodySize = 4 * 1024
    /// Longest key name.
    static let maximumNameLength = 100

    /// A key as the API answers it; `secret` only in the answer to its creation.
    struct KeyAnswer: ResponseEncodable {
        let key: APIKeyStore.Listing
        /// The host names of the domains it is limited to.
        let domains: [String]
        var secret: String? = nil

        enum CodingKeys: String, CodingKey {
            case id, name, role, secret, tags, domains
            case createRateLimit = "create_rate_limit"
            case createBurst = "create_burst"
            case createdAt = "created_at"
            case expiresAt = "expires_at"
            case revokedAt = "revoked_at"
            case lastUsedAt = "last_used_at"
        }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(key.id, forKey: .id)
            try container.encode(key.name, forKey: .name)
            try container.encode(key.role.rawValue, forKey: .role)
            try container.encode(key.tags, forKey: .tags)
            try container.encode(domains, forKey: .domains)
            try container.encode(key.createRateLimit, forKey: .createRateLimit)
            try container.encode(key.createBurst, forKey: .createBurst)
            try container.encode(key.createdAt, forKey: .createdAt)
            try container.encode(key.expiresAt, forKey: .expiresAt)
            try container.encode(key.revokedAt, forKey: .revokedAt)
            try container.encode(key.lastUsedAt, forKey: .lastUsedAt)
            try container.encodeIfPresent(secret, forKey: .secret)
        }
    }

    /// Every key, newest first.
    struct ListAnswer: ResponseEncodable {
        let keys: [KeyAnswer]
    }

    /// `GET /api/me`: the caller's key (null when no key is needed) and what it may do, so that
    /// a client (the web app) offers only what the API would accept.
    struct SelfAnswer: ResponseEncodable {
        let caller: APIKeyGuard.Caller
        /// The host names of the domains its key is limited to.
        let domains: [String]

        enum CodingKeys: String, CodingKey {
            case key, rights
        }

        enum KeyKeys: String, CodingKey {
            case id, name, role, tags, domains
            case expiresAt = "expires_at"
        }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            guard case .key(let key) = caller else {
                try container.encodeNil(forKey: .key)
                try container.encode(AccessRight.allCases.map(\.rawValue), forKey: .rights)
                return
            }
            var nested = container.nestedContainer(keyedBy: KeyKeys.self, forKey: .key)
            try nested.encode(key.id, forKey: .id)
            try nested.encode(key.name, forKey: .name)
            try nested.encode(key.role.rawValue, forKey: .role)
            try nested.encode(key.tags, forKey: .tags)
            try nested.encode(domains, forKey: .domains)
            try nested.encode(key.expiresAt, forKey: .expiresAt)
            try container.encode(
                AccessRight.allCases.filter(key.role.rights.contains).map(\.rawValue), forKey: .rights)
        }
    }

    /// The body of `POST` (`name` required) and `PATCH` (some of the fields; `expires_at: null`
    /// makes the key never expire, `[]` lifts a limit).
    struct Body: Decodable {
        var name: String?
        var role: AccessRole?
        var expiresAt = FieldChange<Date>.keep
        /// The tags it is limited to, checked as a link's.
        var tags: [String]?
        /// The host names of the domains it is limited to, checked to exist by the route.
        var domains: [String]?
        /// Its own creates a second (0: unlimited); `null`: the master's default.
        var createRateLimit = FieldChange<Double>.keep
        /// Its own create burst; `null`: the master's default.
        var createBurst = FieldChange<Int>.keep

        private enum CodingKeys: String, CodingKey, CaseIterable {
            case name, role, tags, domains
            case expiresAt = "expires_at"
            case createRateLimit = "create_rate_limit"
            case createBurst = "create_burst"
        }

        init(from decoder: any Decoder) throws {
            try KnownFields.check(decoder, against: CodingKeys.self, subject: "a key")
            let container = try decoder.container(keyedBy: CodingKeys.self)
            if let text = try container.decodeIfPresent(String.self, forKey: .name) {
                name = try KeysController.validatedName(text)
            }
            if let text = try container.decodeIfPresent(String.self, forKey: .role) {
                do {
                    role = try AccessRole.parse(text)
                } catch {
                    throw APIError(.badRequest, "invalid_role", error.description, field: "role")
                }
            }
            if container.contains(.expiresAt) {
                if try container.decodeNil(forKey: .expiresAt) {
                    expiresAt = .clear
                } else {
                    let text = try container.decode(String.self, forKey: .expiresAt)
                    guard let instant = try? RFC3339.parse(text), instant > Date() else {
                        throw APIError(
                            .badRequest, "invalid_expires_at", "'expires_at' must be an RFC 3339 time in the future",
                            field: "expires_at")
                    }
                    expiresAt = .set(instant)
                }
            }
            tags = try container.decodeIfPresent([String].self, forKey: .tags).map {
                tags throws(APIError) in try LinkRequest.validatedTags(tags)
            }
            domains = try container.decodeIfPresent([String].self, forKey: .domains)
            createRateLimit = try Self.limit(container, .createRateLimit, in: 0...Double(Self.maximumRate))
            createBurst = try Self.limit(container, .createBurst, in: 1...Self.maximumRate)
            if let domains, domains.count > ShortDomains.maximumKeyDomains {
                throw APIError(
                    .badRequest, "invalid_domains",
                    "a key is limited to at most \(ShortDomains.maximumKeyDomains) domains",
                    field: "domains")
            }
        }

        /// Whether it changes nothing.
        var isEmpty: Bool {
            name == nil && role == nil && expiresAt == .keep && tags == nil && domains == nil
                && createRateLimit == .keep
                && createBurst == .keep
        }

        /// Most creates a second and largest burst a key may be given.
        static let maximumRate = 100_000

        /// A limit field: kept when absent, the default when `null`, else a number in `range`.
        private static func limit<Value: Decodable & Comparable & Sendable>(
            _ container: KeyedDecodingContainer<CodingKeys>, _ key: CodingKeys, in range: ClosedRange<Value>
        ) throws -> FieldChange<Value> {
            guard container.contains(key) else { return .keep }
            if try container.decodeNil(forKey: key) { return .clear }
            guard let value = try? container.decode(Value.self, forKey: key), range.contains(value) else {
                throw APIError(
                    .badRequest, "invalid_\(key.stringValue)",
                    "'\(key.stringValue)' must be a number from \(range.lowerBound) to \(range.upperBound), or null for the default",
                    field: key.stringValue)
            }
            return .set(value)
        }
    }

    /// The routes, for the `/api` group.
    var routes: RouteCollection<AppRequestContext> {
        let routes = RouteCollection(context: AppRequestContext.self)
        routes.get("me") { request, _ in
            let caller = try await keys.authenticate(request.headers[.authorization])
            let hosts = if case .key(let key) = caller { key.domains.map(domains.host(of:)) } else { [String]() }
            return SelfAnswer(caller: caller, domains: hosts)
        }
        routes.get("keys") { _, _ in
            ListAnswer(keys: try await store.list().map(answer))
        }
        routes.post("keys") { request, context in
            let body = try await decode(request, expected: #"a JSON object like {"name": "ci", "role": "editor"}"#)
            guard let name = body.name else {
                throw APIError(.badRequest, "missing_name", "the body must have a string field 'name'", field: "name")
            }
            let limits = KeyLimits(
                tags: body.tags ?? [], domains: try await storedDomains(body.domains) ?? [],
                createRateLimit: body.createRateLimit.newValue, createBurst: body.createBurst.newValue)
            let created = try await store.create(
                name: name, role: body.role ?? .admin, expiresAt: body.expiresAt.newValue, limits: limits)
            keys.invalidate()
            context.logger.info(
                "Created API key", metadata: ["key.id": "\(created.id)", "key.role": "\(created.role.rawValue)"])
            let listing = APIKeyStore.Listing(
                id: created.id, name: created.name, role: created.role, createdAt: Date(),
                expiresAt: body.expiresAt.newValue, revokedAt: nil, tags: limits.tags, domains: limits.domains,
                createRateLimit: limits.createRateLimit, createBurst: limits.createBurst)
            var response = try KeyAnswer(
                key: listing, domains: limits.domains.map(domains.host(of:)), secret: created.secret
            ).response(
                from: request, context: context)
            response.status = .created
            return response
        }
        routes.patch("keys/:id") { request, context in
            let id = try context.parameters.require("id")
            let body = try await decode(
                request,
                expected:
                    "a JSON object with some of name, role, expires_at, tags, domains, create_rate_limit, create_burst"
            )
            guard !body.isEmpty else {
                throw APIError(
                    .badRequest, "empty_edit",
                    "the body must change at least one of name, role, expires_at, tags, domains, create_rate_limit, create_burst"
                )
            }
            guard
                let key = try await store.update(
                    id: id, name: body.name, role: body.role, expiresAt: body.expiresAt, tags: body.tags,
                    domains: try await storedDomains(body.domains), createRateLimit: body.createRateLimit,
                    createBurst: body.createBurst)
            else { throw Self.unknown }
            keys.invalidate()
            context.logger.info("Changed API key", metadata: ["key.id": "\(id)"])
            return answer(key)
        }
        routes.delete("keys/:id") { _, context in
            let id = try context.parameters.require("id")
            guard try await store.revoke(id: id) else { throw Self.unknown }
            keys.invalidate()
            context.logger.info("Revoked API key", metadata: ["key.id": "\(id)"])
            return HTTPResponse.Status.noContent
        }
        return routes
    }

    private func answer(_ key: APIKeyStore.Listing) -> KeyAnswer {
        KeyAnswer(key: key, domains: key.domains.map(domains.host(of:)))
    }

    /// The stored names of the domains `hosts` names, each checked to exist.
    private func storedDomains(_ hosts: [String]?) async throws -> [String]? {
        guard let hosts else { return nil }
        return try await domains.storedNames(ofKeyDomains: hosts)
    }

    private func decode(_ request: Request, expected: String) async throws -> Body {
        try await JSONRequestBody.decode(Body.self, from: request, limit: Self.maximumBodySize, expected: expected).0
    }

    /// `name` trimmed: 1 to ``maximumNameLength`` characters, no control characters.
    static func validatedName(_ name: String) throws -> String {
        let trimmed = name.trimmingCharacters(in: .whitespaces)
        guard (1...maximumNameLength).contains(trimmed.count),
            !trimmed.unicodeScalars.contains(where: { $0.properties.generalCategory == .control })
        else {
            throw APIError(
                .badRequest, "invalid_name", "'name' must be 1-\(maximumNameLength) characters, none of them control",
                field: "name")
        }
        return trimmed
    }

    /// `404 unknown_key`.
    static let unknown = APIError(.notFound, "unknown_key", "no active key has this id")
}
