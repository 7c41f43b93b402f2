import Hummingbird
import Logging

/// The small HTTP server of a service without an HTTP API (outbox relay, notifier): only
/// `/health/live` and `/health/ready`.
public enum HealthServer {
    public static func build(
        host: String, port: Int, breakers: [CircuitBreaker],
        readiness: @escaping HealthController.ReadinessCheck = { [] }, logger: Logger
    ) -> some ApplicationProtocol {
        let router = Router(context: AppRequestContext.self)
        HealthController(breakers: breakers, readiness: readiness).addRoutes(to: router)
        return Application(router: router, configuration: .init(address: .hostname(host, port: port)), logger: logger)
    }
}
