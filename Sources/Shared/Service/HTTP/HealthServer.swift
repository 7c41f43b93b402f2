import Hummingbird
import Logging
import SharedResilience

/// The small HTTP server of a service without an HTTP API (outbox relay, notifier):
/// `/health/live`, `/health/ready` and `/metrics`.
public enum HealthServer {
    public static func build(
        settings: HTTPServerSettings, breakers: [CircuitBreaker],
        readiness: @escaping HealthController.ReadinessCheck = { [] },
        liveness: @escaping HealthController.LivenessCheck = { [] }, logger: Logger
    ) -> some ApplicationProtocol {
        let router = ServiceRouter.make(
            breakers: breakers, requestLogLevel: settings.requestLogLevel, readiness: readiness, liveness: liveness)
        return settings.application(router: router, logger: logger)
    }
}
