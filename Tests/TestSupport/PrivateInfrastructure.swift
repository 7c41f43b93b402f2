import Foundation
import Logging
import PostgresNIO
import SharedConfiguration

/// Runs `scripts/infra.sh` with `arguments` on a thread of its own, so that the seconds a server
/// takes to start never hold one of the two threads every test's tasks share (a blocked pair
/// starved quick tests past their 2 s timeouts); throws with its output when it fails.
private func infra(_ arguments: [String]) async throws {
    try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
        Thread { continuation.resume(with: Result { try infraBlocking(arguments) }) }.start()
    }
}

/// Runs `scripts/infra.sh` with `arguments` on the calling thread: for cleanups in `defer`.
///
/// Through `system(3)`, not `Process`: the servers the script starts outlive it, and
/// Foundation's `Process` was seen waiting forever for such a script to be reaped.
private func infraBlocking(_ arguments: [String]) throws {
    let logPath = NSTemporaryDirectory() + "shortener-infra-\(UUID().uuidString.prefix(8)).log"
    defer { try? FileManager.default.removeItem(atPath: logPath) }
    let quoted = (["\(TestStack.root)/scripts/infra.sh"] + arguments).map { "'\($0)'" }.joined(separator: " ")
    let status = system("bash \(quoted) </dev/null >'\(logPath)' 2>&1")
    guard status == 0 else {
        let text = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
        throw ServiceFailure("infra.sh \(arguments.joined(separator: " ")) failed (\(status)):\n\(text)")
    }
}

/// A folder for one test's private infrastructure, removed by `remove()`.
private func scratchFolder(_ name: String) -> String {
    let path = "\(TestStack.root)/.local/fault-\(name)-\(UUID().uuidString.prefix(8))"
    try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

/// A Postgres cluster of one test's own, which the test may stop and start.
public final class PrivatePostgres: Sendable {
    public let port: Int
    private let folder: String

    public init() async throws {
        port = try TestStack.freePort()
        folder = scratchFolder("postgres")
        try await start()
    }

    public func start() async throws { try await infra(["postgres-start", folder, String(port)]) }
    public func stop() async throws { try await infra(["postgres-stop", folder]) }

    /// Stops the cluster and deletes its files (blocking: for `defer`).
    public func remove() {
        try? infraBlocking(["postgres-stop", folder])
        try? FileManager.default.removeItem(atPath: folder)
    }
}

/// A Redis server of one test's own, which the test may stop, start and flush. It keeps no
/// data across a restart, like a cache without persistence.
public final class PrivateRedis: Sendable {
    public let port: Int
    private let folder: String

    public init() async throws {
        port = try TestStack.freePort()
        folder = scratchFolder("redis")
        try await start()
    }

    public func start() async throws { try await infra(["redis-start", folder, String(port)]) }
    public func stop() async throws { try await infra(["redis-stop", String(port)]) }

    /// Halts the server's process (`SIGSTOP`) with its sockets open: connections are still
    /// accepted by the kernel, and every command waits, as on a server that hangs.
    public func freeze() throws { try signal(SIGSTOP) }
    /// Lets a frozen server go on (`SIGCONT`).
    public func thaw() throws { try signal(SIGCONT) }

    private func signal(_ number: Int32) throws {
        let text = try String(contentsOfFile: "\(folder)/redis.pid", encoding: .utf8)
        guard let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)), kill(pid, number) == 0 else {
            throw ServiceFailure("could not signal the Redis server of \(folder)")
        }
    }

    /// Stops the server (thawed first, should it be frozen) and deletes its files (blocking: for `defer`).
    public func remove() {
        try? thaw()
        try? infraBlocking(["redis-stop", String(port)])
        try? FileManager.default.removeItem(atPath: folder)
    }
}

/// A dev Kafka broker of one test's own, whose broker the test may take down and bring back.
public final class PrivateBroker: Sendable {
    public let bootstrapServers: String
    private let control: String
    private let process: ServiceProcess
    private let folder: String

    /// Starts the broker with the topics of `namespace`; with `dataDirectory`, kept on disk there
    /// (and restored from it), as `make run` runs it.
    public init(namespace: Namespace, dataDirectory: String? = nil, environment: [String: String] = [:]) async throws {
        folder = scratchFolder("kafka")
        let bootstrapFile = "\(folder)/kafka.bootstrap"
        process = try ServiceProcess(
            "kafka-dev-broker",
            arguments: ["--bootstrap-file", bootstrapFile, "--log-level", "warning"]
                + (dataDirectory.map { ["--data-dir", $0] } ?? []),
            environment: ["SHORTENER_NAMESPACE": namespace.name].merging(environment) { $1 })
        let deadline = ContinuousClock.now + .seconds(20)
        while ContinuousClock.now < deadline {
            if let bootstrap = try? String(contentsOfFile: bootstrapFile, encoding: .utf8),
                let control = try? String(contentsOfFile: bootstrapFile + ".control", encoding: .utf8)
            {
                bootstrapServers = bootstrap.trimmingCharacters(in: .whitespacesAndNewlines)
                self.control = control.trimmingCharacters(in: .whitespacesAndNewlines)
                return
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw ServiceFailure("the private dev broker did not start:\n\(process.logTail())")
    }

    /// The control API's base URL (`/health/ready`, `/brokers/…`).
    public var controlURL: String { "http://\(control)" }

    /// Takes the broker down (connections closed, new ones refused) or brings it back up.
    public func setBroker(up: Bool) async throws {
        let reply = try await TestHTTP.post("http://\(control)/brokers/1/\(up ? "up" : "down")", body: "")
        guard reply.status == 204 else { throw ServiceFailure("broker control answered \(reply.status)") }
    }

    /// Stops the broker with SIGTERM (a graceful stop); returns its exit status.
    @discardableResult
    public func stop() async -> Int32 { await process.stop() }

    /// Kills the broker at once (`kill -9`).
    public func crash() { process.crash() }

    /// The end of its log.
    public func logTail() -> String { process.logTail() }

    public func remove() async {
        await process.stop()
        try? FileManager.default.removeItem(atPath: folder)
    }
}
