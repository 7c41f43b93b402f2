import Hummingbird
import SharedPostgres
import SharedResilience
import SharedService

/// What the master's routes answer when a store under them fails, in one place: an API error
/// passes through, an open breaker becomes `503` with `Retry-After`, a statement that ran into
/// its query's own timeout `400 search_too_slow` (what was asked for is too costly), a value
/// Postgres refuses `400 invalid_value`, and anything else is logged and becomes `503`.
struct StoreErrorMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext

    func handle(_ request: Request, context: Context, next: @concurrent (Request, Context) async throws -> Response)
        async throws -> Response
    {
        do {
            return try await next(request, context)
        } catch let error as any HTTPResponseError {
            throw error
        } catch let open as CircuitOpenError {
            throw APIError.unavailable(open)
        } catch  where error.isStatementTimeout {
            context.logger.notice("The statement timed out", metadata: ["error": "\(String(reflecting: error))"])
            throw APIError(
                .badRequest, "search_too_slow", "the search took too long; search for something more specific")
        } catch  where error.postgresSQLState?.hasPrefix("22") == true {
            // Data the database refuses (a NUL byte, an out-of-range value) that validation let through.
            context.logger.warning("A value was refused", metadata: ["error": "\(String(reflecting: error))"])
            throw APIError(.badRequest, "invalid_value", "a value in the request cannot be stored")
        } catch {
            context.logger.error("A store call failed", metadata: ["error": "\(String(reflecting: error))"])
            throw APIError.unavailable("the link store is unavailable; try again")
        }
    }
}
