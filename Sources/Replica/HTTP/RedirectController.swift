import Hummingbird
import Metrics
import SharedLinks
import SharedRedis
import SharedResilience
import SharedService

/// `GET /<code>`: `302` to the target (counting the click), `404` for unknown codes, `410` for
/// deleted or expired ones; `503` while Redis is unavailable or the replica is still filling it
/// (an unknown code may just not have arrived yet).
struct RedirectController: Sendable {
    let store: LinkStore
    let reporter: ClickReporter
    /// Whether the replica has not yet read the links topic up to where it stood at the start.
    let isCatchingUp: @Sendable () -> Bool
    /// Countries of client addresses, for the click's country.
    let countries: CountryLookup
    /// Whose `X-Forwarded-For` names the client.
    let trustedProxies: TrustedProxies
    /// User agents already classified.
    let clients = UserAgentRules.Cache()

    func addRoutes(to router: Router<AppRequestContext>) {
        router.get(":code") { request, context in
            do {
                let response = try await redirect(request, context)
                Self.outcomes.redirected.increment()
                return response
            } catch let error as APIError {
                switch error.status {
                case .notFound: Self.outcomes.notFound.increment()
                case .gone: Self.outcomes.gone.increment()
                default: Self.outcomes.unavailable.increment()
                }
                throw error
            }
        }
    }

    /// `redirects_total{outcome}`, created once: the redirect path does no registry lookups.
    private static let outcomes = (
        redirected: Counter(label: "redirects_total", dimensions: [("outcome", "302")]),
        notFound: Counter(label: "redirects_total", dimensions: [("outcome", "404")]),
        gone: Counter(label: "redirects_total", dimensions: [("outcome", "410")]),
        unavailable: Counter(label: "redirects_total", dimensions: [("outcome", "503")])
    )

    private func redirect(_ request: Request, _ context: AppRequestContext) async throws -> Response {
        let code = try context.parameters.require("code")
        guard ShortCode.isWellFormed(code) else { throw APIError.unknownCode }
        let attributes = ClickAttributes.of(
            userAgent: request.headers[.userAgent], referer: request.headers[.referer],
            address: trustedProxies.clientAddress(
                socket: context.remoteAddress, forwardedFor: request.headers[.xForwardedFor]),
            countries: countries, clients: clients)
        let visit: LinkStore.Visit
        do {
            visit = try await store.visit(code, attributes: attributes)
        } catch let open as CircuitOpenError {
            throw APIError.unavailable(open)
        } catch is RedisStateLost {
            throw Self.rebuilding
        } catch {
            context.logger.error("Redis lookup failed", metadata: ["error": "\(error)"])
            throw APIError.unavailable("the link store is unavailable; try again")
        }
        if let milestone = visit.milestone { reporter.report(milestone) }
        switch visit.resolution {
        case .redirect(let url):
            return Response(status: .found, headers: [.location: url])
        case .notFound:
            throw isCatchingUp() ? Self.rebuilding : APIError.unknownCode
        case .rebuilding:
            throw Self.rebuilding
        case .gone:
            throw APIError(.gone, "gone", "this link was deleted or has expired")
        }
    }

    private static let rebuilding = APIError.unavailable("this replica is still loading its links; try again")
}
