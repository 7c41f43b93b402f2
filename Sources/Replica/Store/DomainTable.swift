import NIOConcurrencyHelpers
import SharedLinks

/// The short domains a replica knows, in memory: read on every redirect to resolve its `Host`
/// and to find the fallback pages, so the redirect path asks Redis nothing more for them. Filled
/// from Redis at start (``LinkStore/loadDomains()``) and kept current by every domain event the
/// replica applies.
final class DomainTable: Sendable {
    /// Where a domain's root, an unknown code, and a gone link redirect (nil: the replica's page).
    struct Fallbacks: Equatable, Sendable {
        var rootURL: String?
        var notFoundURL: String?
        var expiredURL: String?
    }

    /// Stored name (`""`: the default domain) → its fallbacks, for the domains in use.
    private let domains = NIOLockedValueBox<[String: Fallbacks]>([:])
    /// Whether a domain other than the default one is known: without one (and without strict
    /// hosts) every request is the default domain's, and its `Host` is not even read.
    private let hasOtherDomains = NIOLockedValueBox(false)
    /// The default domain's host, if the replica was told it (strict hosts need it).
    let defaultHost: String?
    /// Whether a `Host` naming no known domain gets `404` instead of the default domain.
    let strictHosts: Bool

    init(defaultHost: String?, strictHosts: Bool) {
        self.defaultHost = defaultHost
        self.strictHosts = strictHosts
    }

    /// The stored name of the domain a request's `Host` header names: a known domain's name,
    /// `nil` for the default domain (its host, or an unknown host unless hosts are strict), and
    /// ``Resolution/unknownHost`` for an unknown host when they are.
    func resolve(hostHeader: String?) -> Resolution {
        if !strictHosts, !hasOtherDomains.withLockedValue({ $0 }) { return .domain(nil) }
        guard let host = DomainName.host(ofHeader: hostHeader) else {
            return strictHosts ? .unknownHost : .domain(nil)
        }
        if host == defaultHost { return .domain(nil) }
        if domains.withLockedValue({ $0[host] != nil }) { return .domain(host) }
        return strictHosts ? .unknownHost : .domain(nil)
    }

    /// What a `Host` header resolves to.
    enum Resolution: Equatable {
        /// A domain's stored name, nil for the default domain.
        case domain(String?)
        /// No domain this replica knows, with strict hosts.
        case unknownHost
    }

    /// The fallback pages of a domain (`nil`: the default domain).
    func fallbacks(of domain: String?) -> Fallbacks {
        domains.withLockedValue { $0[domain ?? ""] } ?? Fallbacks()
    }

    /// Records a domain's state as Redis holds it: its fallbacks, or nil once it is removed.
    func set(_ name: String, _ fallbacks: Fallbacks?) {
        let others = domains.withLockedValue { domains in
            domains[name] = fallbacks
            return domains.keys.contains { !$0.isEmpty }
        }
        hasOtherDomains.withLockedValue { $0 = others }
    }

    /// Replaces every domain with what Redis holds.
    func replaceAll(with all: [String: Fallbacks]) {
        domains.withLockedValue { $0 = all }
        hasOtherDomains.withLockedValue { $0 = all.keys.contains { !$0.isEmpty } }
    }
}
