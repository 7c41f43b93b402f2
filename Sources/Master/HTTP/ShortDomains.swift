import Foundation
import NIOConcurrencyHelpers
import SharedConfiguration
import SharedLinks
import SharedService

/// The master's short domains as its routes need them: names in requests made into the stored
/// form (the default domain's host, `SHORTENER_PUBLIC_URL`'s, is stored as `""`), the
/// existence check of a create's domain, and every link's `short_url`.
struct ShortDomains: Sendable {
    /// Base of the default domain's short URLs, e.g. `http://localhost:8081`.
    let publicBaseURL: String
    /// The default domain's host, e.g. `localhost`.
    let defaultHost: String
    let repository: any DomainRepository
    /// `scheme://` and `:port` of the public URL: another domain's short URLs use the same.
    private let scheme: String
    private let port: String
    /// The names found live recently (``recentlySeen``), so that a burst of creates on one
    /// domain asks Postgres once.
    private let seen = NIOLockedValueBox<[String: ContinuousClock.Instant]>([:])

    /// How long a domain found live is taken as live without asking again: a domain removed on
    /// another master may still take creates there for this long (a removal on this master is
    /// forgotten at once).
    static let recentlySeen = Duration.seconds(2)

    /// `SHORTENER_PUBLIC_URL`, else `http://localhost:8081`: the public URL `master serve` and
    /// the commands take by default.
    static var configuredPublicBaseURL: String {
        EnvironmentDefaults.string("SHORTENER_PUBLIC_URL", "http://localhost:8081")
    }

    init(publicBaseURL: String, repository: any DomainRepository) {
        self.publicBaseURL = publicBaseURL
        self.repository = repository
        let components = URLComponents(string: publicBaseURL)
        defaultHost = components?.host.map { (try? DomainName.normalized($0)) ?? $0.lowercased() } ?? "localhost"
        scheme = (components?.scheme ?? "http") + "://"
        port = components?.port.map { ":\($0)" } ?? ""
    }

    /// The stored name of a domain named in a request: `""` for the default domain (absent, or
    /// its host), else the normalised host name; `400 invalid_domain` when it is none.
    func storedName(_ text: String?) throws(APIError) -> String {
        guard let text, !text.isEmpty else { return "" }
        let name: String
        do {
            name = try DomainName.normalized(text)
        } catch {
            throw APIError(.badRequest, "invalid_domain", error.message, field: "domain")
        }
        return name == defaultHost ? "" : name
    }

    /// The address of `code` on the domain a request names.
    func address(code: String, domain text: String?) throws(APIError) -> LinkAddress {
        LinkAddress(domain: try storedName(text), code: code)
    }

    /// The domain a create names, checked to exist: `nil` for the default domain, `400
    /// unknown_domain` for one that is not added (or was removed).
    func domainToCreateOn(_ text: String?) async throws -> String? {
        let name = try storedName(text)
        guard !name.isEmpty else { return nil }
        let now = ContinuousClock.now
        if let last = seen.withLockedValue({ $0[name] }), now - last < Self.recentlySeen { return name }
        guard try await repository.domain(name) != nil else { throw Self.unknownDomain(name) }
        seen.withLockedValue { seen in
            if seen.count > 10_000 { seen.removeAll() }
            seen[name] = now
        }
        return name
    }

    /// The stored names of the domains `hosts` names, each checked to exist, without repeats:
    /// what an API key is limited to.
    func storedNames(ofKeyDomains hosts: [String]) async throws -> [String] {
        var names: [String] = []
        for host in hosts {
            let name = try await domainToCreateOn(host) ?? ""
            if !names.contains(name) { names.append(name) }
        }
        return names
    }

    /// Stops taking `name` as live without asking: it was removed here.
    func forget(_ name: String) {
        _ = seen.withLockedValue { $0.removeValue(forKey: name) }
    }

    /// `400 unknown_domain`.
    static func unknownDomain(_ name: String) -> APIError {
        APIError(
            .badRequest, "unknown_domain", "the domain '\(name)' is not added; add it with POST /api/domains",
            field: "domain")
    }

    /// Most domains one API key may be limited to.
    static let maximumKeyDomains = 100

    /// The host name of a stored domain name.
    func host(of name: String?) -> String {
        guard let name, !name.isEmpty else { return defaultHost }
        return name
    }

    /// Where `address` redirects from.
    func shortURL(_ address: LinkAddress) -> String {
        guard let domain = address.domain else { return "\(publicBaseURL)/\(address.code)" }
        return "\(scheme)\(domain)\(port)/\(address.code)"
    }
}
