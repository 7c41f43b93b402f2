import Foundation
import Hummingbird
import SharedJSON
import SharedResilience

/// `GET /health/live` (the process can still do its job at all: no client of it is broken
/// beyond repair, so a supervisor should leave it running) and `GET /health/ready` (it can do
/// its job now: no dependency's circuit breaker is open, and the service's own check passes).
public struct HealthController: Sendable {
    /// Returns the reasons the service is not ready; empty when it is.
    public typealias ReadinessCheck = @Sendable () async -> [String]
    /// Returns the reasons the process must be restarted (a fatal Kafka client error); empty
    /// while it is healthy.
    public typealias LivenessCheck = @Sendable () -> [String]

    private let readiness: ReadinessCheck
    private let liveness: LivenessCheck

    public init(
        breakers: [CircuitBreaker] = [], readiness: @escaping ReadinessCheck = { [] },
        liveness: @escaping LivenessCheck = { [] }
    ) {
        self.readiness = {
            let open = breakers.filter { $0.state == .open }.map { "\($0.dependency): circuit open" }
            return open + (await readiness())
        }
        self.liveness = liveness
    }

    /// The body of both probes: `{"status": …, "reasons": […]}` (no reasons when all is well).
    struct Body: Encodable {
        let status: String
        let reasons: [String]?
    }

    public func addRoutes<Context: RequestContext>(to router: Router<Context>) {
        router.get("health/live") { _, _ in
            let problems = liveness()
            if problems.isEmpty { return Self.json(.ok, Body(status: "live", reasons: nil)) }
            return Self.json(.serviceUnavailable, Body(status: "dead", reasons: problems))
        }
        router.get("health/ready") { _, _ in
            let problems = liveness() + (await readiness())
            if problems.isEmpty { return Self.json(.ok, Body(status: "ready", reasons: nil)) }
            return Self.json(.serviceUnavailable, Body(status: "not_ready", reasons: problems))
        }
    }

    private static func json(_ status: HTTPResponse.Status, _ body: Body) -> Response {
        Response(
            status: status, headers: [.contentType: "application/json"],
            body: .init(byteBuffer: ByteBuffer(bytes: (try? JSONEncoder.project.encode(body)) ?? Data())))
    }
}
