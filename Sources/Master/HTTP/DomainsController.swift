import Foundation
import Hummingbird
import SharedLinks
import SharedService

/// `GET /api/domains`, `POST /api/domains`, `PATCH /api/domains/<name>` and
/// `DELETE /api/domains/<name>[?cascade=true]`, in the `/api` group behind its key check: the
/// short domains links are created on, and each one's fallback pages. The default domain (the
/// host `SHORTENER_PUBLIC_URL` names) is always listed first; its fallbacks can be set, but it
/// cannot be added or removed.
struct DomainsController: Sendable {
    let domains: ShortDomains
    var repository: any DomainRepository { domains.repository }

    /// Largest body accepted.
    static let maximumBodySize = 16 * 1024

    /// One domain as the API answers it.
    struct DomainAnswer: ResponseEncodable {
        let domain: Domain
        /// The host name (the default domain's too).
        let name: String

        enum CodingKeys: String, CodingKey {
            case name, revision, links
            case isDefault = "default"
            case rootURL = "root_url"
            case notFoundURL = "not_found_url"
            case expiredURL = "expired_url"
            case createdAt = "created_at"
        }

        /// Every field, `null` where a fallback is unset.
        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(name, forKey: .name)
            try container.encode(domain.name.isEmpty, forKey: .isDefault)
            try container.encode(domain.rootURL, forKey: .rootURL)
            try container.encode(domain.notFoundURL, forKey: .notFoundURL)
            try container.encode(domain.expiredURL, forKey: .expiredURL)
            try container.encode(domain.links, forKey: .links)
            try container.encode(domain.createdAt, forKey: .createdAt)
            try container.encode(domain.revision, forKey: .revision)
        }
    }

    /// Every domain.
    struct ListAnswer: ResponseEncodable {
        let domains: [DomainAnswer]
    }

    /// The body of `POST` (with `name`) and `PATCH` (without): the fallback pages, each an
    /// http(s) URL checked like a link's target; on `PATCH` a field left out is kept and
    /// `null` removes the fallback.
    struct Body: Decodable {
        var name: String?
        var fallbacks = DomainFallbacks()

        private enum CodingKeys: String, CodingKey, CaseIterable {
            case name
            case rootURL = "root_url"
            case notFoundURL = "not_found_url"
            case expiredURL = "expired_url"
        }

        init(from decoder: any Decoder) throws {
            try KnownFields.check(decoder, against: CodingKeys.self, subject: "a domain")
            let container = try decoder.container(keyedBy: CodingKeys.self)
            name = try container.decodeIfPresent(String.self, forKey: .name)
            fallbacks = DomainFallbacks(
                rootURL: try Self.fallback(container, .rootURL),
                notFoundURL: try Self.fallback(container, .notFoundURL),
                expiredURL: try Self.fallback(container, .expiredURL))
        }

        private static func fallback(_ container: KeyedDecodingContainer<CodingKeys>, _ key: CodingKeys) throws
            -> FieldChange<String>
        {
            guard container.contains(key) else { return .keep }
            if try container.decodeNil(forKey: key) { return .clear }
            let text = try container.decode(String.self, forKey: key)
            do {
                return .set(try LinkRequest.validatedURL(text))
            } catch {
                throw APIError(
                    error.status, error.code,
                    error.message.replacingOccurrences(of: "'url'", with: "'\(key.stringValue)'"),
                    field: key.stringValue)
            }
        }
    }

    /// The routes, for the `/api` group.
    var routes: RouteCollection<AppRequestContext> {
        let routes = RouteCollection(context: AppRequestContext.self)
        routes.get("domains") { _, _ in
            // A key limited to some domains sees only those.
            let limited = AccessScope.current.visibility.domains
            return ListAnswer(
                domains: try await repository.list().filter { limited.isEmpty || limited.contains($0.name) }.map(answer)
            )
        }
        routes.post("domains") { request, context in
            try await add(request, context: context)
        }
        routes.patch("domains/:name") { request, context in
            let name = try domains.storedName(context.parameters.require("name"))
            let (body, _) = try await JSONRequestBody.decode(
                Body.self, from: request, limit: Self.maximumBodySize,
                expected: "a JSON object with some of root_url, not_found_url and expired_url")
            guard body.name == nil else {
                throw APIError(.badRequest, "invalid_name", "a domain cannot be renamed; add the new name instead")
            }
            guard body.fallbacks != DomainFallbacks() else {
                throw APIError(
                    .badRequest, "empty_edit",
                    "the body must change at least one of root_url, not_found_url, expired_url")
            }
            guard let domain = try await repository.update(name, fallbacks: body.fallbacks) else {
                throw Self.unknown
            }
            context.logger.info("Changed domain", metadata: ["domain": "\(domains.host(of: name))"])
            return answer(domain)
        }
        routes.delete("domains/:name") { request, context in
            let name = try domains.storedName(context.parameters.require("name"))
            guard !name.isEmpty else {
                throw APIError(.conflict, "default_domain", "the default domain cannot be removed")
            }
            let cascade = try StatsController.flag(request.uri.queryParameters.get("cascade"), name: "cascade")
            defer { domains.forget(name) }
            switch try await repository.remove(name, cascade: cascade) {
            case .removed(let deletedLinks):
                context.logger.info(
                    "Removed domain", metadata: ["domain": "\(name)", "links.deleted": "\(deletedLinks)"])
                return HTTPResponse.Status.noContent
            case .notFound:
                throw Self.unknown
            case .inUse(let links):
                throw APIError(
                    .conflict, "domain_in_use",
                    "\(links) live links use this domain; delete them first, or remove it with ?cascade=true")
            }
        }
        return routes
    }

    private func add(_ request: Request, context: AppRequestContext) async throws -> Response {
        let (body, _) = try await JSONRequestBody.decode(
            Body.self, from: request, limit: Self.maximumBodySize,
            expected: "a JSON object like {\"name\": \"go.example.com\"}")
        guard let text = body.name else {
            throw APIError(.badRequest, "missing_name", "the body must have a string field 'name'", field: "name")
        }
        let name: String
        do {
            name = try domains.storedName(text)
        } catch {
            // The field of this body is `name`.
            throw APIError(
                error.status, error.code, error.message.replacingOccurrences(of: "'domain'", with: "'name'"),
                field: "name")
        }
        guard !name.isEmpty,
            let domain = try await repository.add(name, fallbacks: body.fallbacks)
        else {
            throw APIError(.conflict, "domain_exists", "the domain '\(domains.host(of: name))' exists already")
        }
        context.logger.info("Added domain", metadata: ["domain": "\(name)"])
        var response = try answer(domain).response(from: request, context: context)
        response.status = .created
        return response
    }

    private func answer(_ domain: Domain) -> DomainAnswer {
        DomainAnswer(domain: domain, name: domains.host(of: domain.name))
    }

    /// `404 unknown_domain`.
    static let unknown = APIError(.notFound, "unknown_domain", "no such domain")
}
