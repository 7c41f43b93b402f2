import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOConcurrencyHelpers
import SharedResilience

/// The router every HTTP server of the project starts from: request metrics (by route
/// template, never by short code) and request logs for every route, `/health/*`, `/metrics`
/// and `/openapi.yaml`.
public enum ServiceRouter {
    /// - Parameters:
    ///   - breakers: the dependencies whose open breaker makes the service not ready.
    ///   - requestLogLevel: level of the one log line per request.
    ///   - readiness: the service's own readiness check.
    ///   - liveness: what makes the process useless until restarted (its Kafka clients' fatal errors).
    public static func make(
        breakers: [CircuitBreaker], requestLogLevel: Logger.Level,
        readiness: @escaping HealthController.ReadinessCheck = { [] },
        liveness: @escaping HealthController.LivenessCheck = { [] }
    ) -> Router<AppRequestContext> {
        let router = Router(context: AppRequestContext.self)
        router.add(middleware: MetricsMiddleware())
        router.add(middleware: RequestLogMiddleware(level: requestLogLevel))
        HealthController(breakers: breakers, readiness: readiness, liveness: liveness).addRoutes(to: router)
        router.get("openapi.yaml") { _, _ in
            guard let document = OpenAPIDocument.text else {
                throw APIError(.notFound, "not_found", "this server was started without its OpenAPI document")
            }
            return Response(
                status: .ok, headers: [.contentType: "application/yaml; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(string: document)))
        }
        router.get("metrics") { _, _ in
            Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(bytes: await MetricsExporter.render())))
        }
        return router
    }
}

/// One log line per request: method, path (without the query, which may carry secrets),
/// route, status and duration, with the request id, which the answer carries as `X-Request-ID`
/// (an error's answer too, so that a refusal can be found in the logs).
struct RequestLogMiddleware<Context: RequestContext>: RouterMiddleware {
    let level: Logger.Level

    func handle(_ request: Request, context: Context, next: @concurrent (Request, Context) async throws -> Response)
        async throws -> Response
    {
        let start = ContinuousClock.now
        do {
            var response = try await next(request, context)
            response.headers[.requestID] = context.id
            log(request, context: context, status: response.status.code, start: start)
            return response
        } catch let error as any HTTPResponseError {
            var response = try error.response(from: request, context: context)
            response.headers[.requestID] = context.id
            log(request, context: context, status: response.status.code, start: start)
            return response
        } catch {
            log(request, context: context, status: 500, start: start)
            throw error
        }
    }

    private func log(_ request: Request, context: Context, status: Int, start: ContinuousClock.Instant) {
        context.logger.log(
            level: level, "Request",
            metadata: [
                "http.method": "\(request.method)", "http.path": "\(request.uri.path)",
                "http.route": "\(context.endpointPath ?? "-")", "http.status": "\(status)",
                "http.duration_ms": "\(String(format: "%.3f", (ContinuousClock.now - start).inSeconds * 1000))",
            ])
    }
}

extension HTTPField.Name {
    /// `X-Request-ID`: the id of the request in the service's logs.
    static let requestID = Self("X-Request-ID")!
}

/// The OpenAPI document of the HTTP APIs (`openapi.yaml`), read on its first request and kept.
public enum OpenAPIDocument {
    private struct State {
        var path = "openapi.yaml"
        /// nil until read; then the document, or nil inside when the file could not be read.
        var text: String??
    }

    private static let state = NIOLockedValueBox(State())

    /// Where the document is; nothing is read yet (command-line tools never read it).
    public static func use(path: String) {
        state.withLockedValue { $0 = State(path: path) }
    }

    /// The document, or nil when it cannot be read (`/openapi.yaml` then answers 404).
    public static var text: String? {
        state.withLockedValue { state in
            if let text = state.text { return text }
            let text = try? String(contentsOfFile: state.path, encoding: .utf8)
            state.text = .some(text)
            return text
        }
    }
}
