import HTTPTypes

/// The right every API route needs, in one table: ``AccessMiddleware`` checks it for every
/// request, so no controller decides access on its own. A route missing here is refused to
/// every key (fail closed), and a test walks the table against the router.
enum RoutePermissions {
    /// Right by method and route path as the router matched it (`/api/links/{code}`).
    static let table: [Route: AccessRight] = [
        Route(.post, "/create"): .createLinks,
        Route(.post, "/api/links/bulk"): .createLinks,
        Route(.get, "/api/links"): .readLinks,
        Route(.get, "/api/links.csv"): .readLinks,
        Route(.get, "/api/links/{code}"): .readLinks,
        Route(.get, "/api/links/{code}/qr"): .readLinks,
        Route(.post, "/api/routing/preview"): .readLinks,
        Route(.patch, "/api/links/{code}"): .editLinks,
        Route(.delete, "/api/links/{code}"): .deleteLinks,
        Route(.get, "/api/links/{code}/stats"): .readStats,
        Route(.get, "/api/stats"): .readStats,
        Route(.get, "/api/links/{code}/visits"): .readStats,
        Route(.get, "/api/links/{code}/visits/live"): .readStats,
        Route(.get, "/api/visits/orphans"): .readStats,
        Route(.get, "/api/domains"): .readDomains,
        Route(.post, "/api/domains"): .manageDomains,
        Route(.patch, "/api/domains/{name}"): .manageDomains,
        Route(.delete, "/api/domains/{name}"): .manageDomains,
        Route(.get, "/api/keys"): .manageKeys,
        Route(.post, "/api/keys"): .manageKeys,
        Route(.patch, "/api/keys/{id}"): .manageKeys,
        Route(.delete, "/api/keys/{id}"): .manageKeys,
        Route(.get, "/api/audit"): .readAudit,
        Route(.get, "/api/me"): .readSelf,
    ]

    /// A method and a matched route path.
    struct Route: Hashable, Sendable {
        let method: HTTPRequest.Method
        let path: String
        init(_ method: HTTPRequest.Method, _ path: String) {
            self.method = method
            self.path = path
        }
    }

    /// The right `method` on the matched `path` needs; nil for a route not in the table.
    static func right(_ method: HTTPRequest.Method, _ path: String) -> AccessRight? {
        table[Route(method == .head ? .get : method, path)]
    }
}
