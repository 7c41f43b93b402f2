import Hummingbird

/// `GET /health/live` (the process answers) and `GET /health/ready` (it can do its job: no
/// dependency's circuit breaker is open, and the service's own check passes).
public struct HealthController: Sendable {
    /// Returns the reasons the service is not ready; empty when it is.
    public typealias ReadinessCheck = @Sendable () async -> [String]

    private let readiness: ReadinessCheck

    public init(breakers: [CircuitBreaker] = [], readiness: @escaping ReadinessCheck = { [] }) {
        self.readiness = {
            let open = breakers.filter { $0.state == .open }.map { "\($0.dependency): circuit open" }
            return open + (await readiness())
        }
    }

    public func addRoutes<Context: RequestContext>(to router: Router<Context>) {
        router.get("health/live") { _, _ in
            Self.json(status: .ok, #"{"status":"live"}"#)
        }
        router.get("health/ready") { _, _ in
            let problems = await readiness()
            if problems.isEmpty { return Self.json(status: .ok, #"{"status":"ready"}"#) }
            let list = problems.map { "\"\($0.replacingOccurrences(of: "\"", with: "'"))\"" }.joined(separator: ",")
            return Self.json(status: .serviceUnavailable, #"{"status":"not_ready","reasons":[\#(list)]}"#)
        }
    }

    private static func json(status: HTTPResponse.Status, _ body: String) -> Response {
        Response(
            status: status, headers: [.contentType: "application/json"],
            body: .init(byteBuffer: ByteBuffer(string: body)))
    }
}
