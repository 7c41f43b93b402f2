import Hummingbird
import SharedService

/// The routes of the links as every master serves them, over any ``LinkRepository`` (Postgres in
/// the master, memory in the router tests): `POST /create`, and under `/api`, behind the key
/// check, the links, their bulk creates and QR codes; ``StoreErrorMiddleware`` around them all.
struct LinkRoutes: Sendable {
    let repository: any LinkRepository
    /// Writes `POST /create`'s links: the group commit in the master.
    let creator: any LinkCreator
    let admission: CreateAdmission
    /// Base of every `short_url`, e.g. `http://localhost:8081`.
    let publicBaseURL: String

    /// Adds the routes, and the error middleware in front of them and of every route added later.
    func add(to router: Router<AppRequestContext>) {
        router.add(middleware: StoreErrorMiddleware())
        router.addRoutes(
            CreateLinkController(writer: creator, admission: admission, publicBaseURL: publicBaseURL).routes)
        router.addRoutes(
            behindKeyCheck(LinksAPIController(repository: repository, publicBaseURL: publicBaseURL).routes)
                .addRoutes(
                    BulkCreateController(repository: repository, admission: admission, publicBaseURL: publicBaseURL)
                        .routes
                )
                .addRoutes(QRCodeController(repository: repository, publicBaseURL: publicBaseURL).routes),
            atPath: "api")
    }

    /// `routes` behind ``APIKeyMiddleware``: what goes under `/api`.
    func behindKeyCheck(_ routes: RouteCollection<AppRequestContext>) -> RouteCollection<AppRequestContext> {
        RouteCollection(context: AppRequestContext.self).add(middleware: APIKeyMiddleware(keys: admission.keys))
            .addRoutes(routes)
    }
}
