import Hummingbird
import Logging

/// The small HTTP server of a service without an HTTP API (outbox relay, notifier):
/// `/health/live`, `/health/ready` and `/metrics`; requests are logged at `debug`.
public enum HealthServer {
    public static func build(
        host: String, port: Int, server: HTTPServerSettings, breakers: [CircuitBreaker],
        readiness: @escaping HealthController.ReadinessCheck = { [] },
        liveness: @escaping HealthController.LivenessCheck = { [] }, logger: Logger
    ) -> some ApplicationProtocol {
        let router = ServiceRouter.make(
            breakers: breakers, requestLogLevel: .debug, readiness: readiness, liveness: liveness)
        return Application(
            router: router, server: server.serverBuilder,
            configuration: server.configuration(host: host, port: port, logger: logger), logger: logger)
    }
}
