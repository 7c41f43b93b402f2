import Hummingbird
import SharedService

/// Puts every route of its group behind ``APIKeyGuard``: once a key exists, no `/api/`
/// endpoint answers without one, reads included.
struct APIKeyMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext
    let keys: APIKeyGuard

    func handle(_ request: Request, context: Context, next: @concurrent (Request, Context) async throws -> Response)
        async throws -> Response
    {
        _ = try await keys.authenticate(request.headers[.authorization])
        return try await next(request, context)
    }
}
