import Hummingbird
import SharedService

/// Puts every route of its group behind ``APIKeyGuard`` and ``RoutePermissions``: once a key
/// exists, no route answers without one, and a key whose role lacks the route's right gets
/// `403 forbidden` naming it before any controller runs. A route missing from the table is
/// refused to every key. The request then runs in its key's ``AccessScope``, and its changes
/// are audited with its ``ChangeOrigin``.
struct AccessMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext
    let keys: APIKeyGuard

    func handle(_ request: Request, context: Context, next: @concurrent (Request, Context) async throws -> Response)
        async throws -> Response
    {
        let caller = try await keys.authenticate(request.headers[.authorization])
        guard let right = context.endpointPath.flatMap({ RoutePermissions.right(request.method, $0) }) else {
            if caller != .anonymous {
                context.logger.error("A route has no entry in the permissions table; refused")
                throw APIError(.forbidden, "forbidden", "this route is not open to API keys")
            }
            return try await next(request, context)
        }
        try caller.require(right)
        let origin = ChangeOrigin(actor: caller.author, requestID: context.id)
        return try await AccessScope.$current.withValue(AccessScope(caller)) {
            try await ChangeOrigin.$current.withValue(origin) { try await next(request, context) }
        }
    }
}
