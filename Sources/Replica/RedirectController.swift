import Hummingbird
import Shared

/// `GET /<code>`: `302` to the target, `404` for unknown codes, `410` for deleted or expired ones.
struct RedirectController: Sendable {
    let store: LinkStore

    func addRoutes(to router: Router<AppRequestContext>) {
        router.get(":code") { _, context in
            let code = try context.parameters.require("code")
            guard ShortCode.isWellFormed(code) else { throw Self.notFound }
            let resolution: LinkStore.Resolution
            do {
                resolution = try await store.resolve(code)
            } catch {
                context.logger.error("Redis lookup failed", metadata: ["error": "\(error)"])
                throw APIError.unavailable("the link store is unavailable; try again")
            }
            switch resolution {
            case .redirect(let url):
                return Response(status: .found, headers: [.location: url])
            case .notFound:
                throw Self.notFound
            case .gone:
                throw APIError(.gone, "gone", "this link was deleted or has expired")
            }
        }
    }

    private static let notFound = APIError(.notFound, "not_found", "no link has this code")
}
