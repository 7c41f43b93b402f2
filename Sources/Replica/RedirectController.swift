import Hummingbird
import Shared

/// `GET /<code>`: `302` to the target (counting the click), `404` for unknown codes, `410` for
/// deleted or expired ones.
struct RedirectController: Sendable {
    let store: LinkStore
    let reporter: ClickReporter

    func addRoutes(to router: Router<AppRequestContext>) {
        router.get(":code") { _, context in
            let code = try context.parameters.require("code")
            guard ShortCode.isWellFormed(code) else { throw APIError.unknownCode }
            let visit: LinkStore.Visit
            do {
                visit = try await store.visit(code)
            } catch {
                context.logger.error("Redis lookup failed", metadata: ["error": "\(error)"])
                throw APIError.unavailable("the link store is unavailable; try again")
            }
            if let milestone = visit.milestone { reporter.report(milestone) }
            switch visit.resolution {
            case .redirect(let url):
                return Response(status: .found, headers: [.location: url])
            case .notFound:
                throw APIError.unknownCode
            case .gone:
                throw APIError(.gone, "gone", "this link was deleted or has expired")
            }
        }
    }
}
