import Hummingbird
import SharedService

/// The routes of the links as every master serves them, over any ``LinkRepository`` (Postgres in
/// the master, memory in the router tests), behind the key and rights check: `POST /create`,
/// and under `/api` the links, their bulk creates, QR codes and routing previews, and the
/// domains; ``StoreErrorMiddleware``
/// around them all.
struct LinkRoutes: Sendable {
    let repository: any LinkRepository
    /// Writes `POST /create`'s links: the group commit in the master.
    let creator: any LinkCreator
    let admission: CreateAdmission
    /// The short domains, and every `short_url`.
    let domains: ShortDomains
    /// Fetches the titles of new links created without one; nil when that is off.
    var titles: TitleFetcher? = nil

    /// The links as a request sees them: through its key's ``AccessScope``. Every route reads
    /// and writes links through it.
    var scoped: ScopedLinkRepository { ScopedLinkRepository(base: repository, writer: creator) }

    /// Adds the routes, and the error middleware in front of them and of every route added later.
    func add(to router: Router<AppRequestContext>) {
        let scoped = self.scoped
        router.add(middleware: StoreErrorMiddleware())
        router.addRoutes(
            behindKeyCheck(
                CreateLinkController(
                    writer: scoped, repository: scoped, admission: admission, titles: titles, domains: domains
                ).routes))
        router.addRoutes(
            behindKeyCheck(LinksAPIController(repository: scoped, domains: domains).routes)
                .addRoutes(
                    BulkCreateController(
                        repository: scoped, admission: admission, titles: titles, domains: domains
                    ).routes
                )
                .addRoutes(QRCodeController(repository: scoped, domains: domains).routes)
                .addRoutes(RoutingPreviewController().routes)
                .addRoutes(DomainsController(domains: domains).routes),
            atPath: "api")
    }

    /// `routes` behind ``AccessMiddleware``: `POST /create` and everything under `/api`.
    func behindKeyCheck(_ routes: RouteCollection<AppRequestContext>) -> RouteCollection<AppRequestContext> {
        RouteCollection(context: AppRequestContext.self).add(middleware: AccessMiddleware(keys: admission.keys))
            .addRoutes(routes)
    }
}
