import AsyncHTTPClient
import Foundation
import NIOCore

/// One of the project's real executables, started for a test and stopped with SIGTERM.
public final class ServiceProcess: @unchecked Sendable {
    // `process` is only touched from the test that owns this value.
    private let process = Process()
    /// The executable's name, e.g. `replica`.
    public let name: String
    /// Its log file (terminal output goes there too).
    public let logPath: String

    /// Starts `.build/<config>/<name>` with `arguments` and extra `environment`. The Kafka
    /// brokers are the test stack's unless `environment` names others. Standard output goes to
    /// the log too, unless `outputPath` names a file for it (a command's output, e.g. CSV).
    public init(
        _ name: String, arguments: [String] = [], environment: [String: String], outputPath: String? = nil
    ) throws {
        self.name = name
        self.logPath = NSTemporaryDirectory() + "shortener-test-\(name)-\(UUID().uuidString.prefix(8)).log"
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        let output = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        process.executableURL = URL(fileURLWithPath: "\(try TestStack.binaries)/\(name)")
        process.arguments = arguments
        var merged = ProcessInfo.processInfo.environment
        // Any free port unless the test chooses one: never the fixed ports of `make run`.
        merged["SHORTENER_HTTP_PORT"] = "0"
        merged["SHORTENER_TOPICS_DIR"] = TestStack.topicsDirectory
        merged["SHORTENER_KAFKA_BROKERS"] = try TestStack.kafkaBrokers
        // The end-to-end round runs dozens of processes on two cores: a statement (or a pool's
        // first connection) can take longer than the 2 s a deployment allows it.
        merged["SHORTENER_PG_CALL_TIMEOUT"] = "15"
        merged.merge(environment) { $1 }
        process.environment = merged
        if let outputPath {
            _ = FileManager.default.createFile(atPath: outputPath, contents: nil)
            process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: outputPath))
        } else {
            process.standardOutput = output
        }
        process.standardError = output
        try process.run()
    }

    /// A test that failed half-way leaves nothing running behind it.
    deinit {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    }

    /// Whether it is still running.
    public var isRunning: Bool { process.isRunning }

    /// Its process id.
    public var pid: Int32 { process.processIdentifier }

    /// Kills it at once (SIGKILL), as a crash would, and waits until it is gone.
    public func crash() {
        guard process.isRunning else { return }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    /// Whether SIGTERM was sent: a second one would force the stop.
    private var terminated = false

    /// Sends SIGTERM without waiting, so that several services stop at once; ``stop(timeout:)``
    /// then waits for each.
    public func requestStop() {
        guard process.isRunning, !terminated else { return }
        terminated = true
        process.terminate()
    }

    /// Sends SIGTERM (unless ``requestStop()`` did) and waits up to `timeout` for a graceful
    /// exit; returns the exit status.
    @discardableResult
    public func stop(timeout: Duration = .seconds(15)) async -> Int32 {
        guard process.isRunning else { return process.terminationStatus }
        requestStop()
        let deadline = ContinuousClock.now + timeout
        while process.isRunning && ContinuousClock.now < deadline { try? await Task.sleep(for: .milliseconds(50)) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        return process.terminationStatus
    }

    /// Waits until it exits on its own (a one-shot command); returns the exit status.
    public func waitForExit(timeout: Duration = .seconds(60)) async throws -> Int32 {
        let deadline = ContinuousClock.now + timeout
        while process.isRunning {
            guard ContinuousClock.now < deadline else { throw ServiceFailure("\(name) did not exit:\n\(logTail())") }
            try await Task.sleep(for: .milliseconds(50))
        }
        return process.terminationStatus
    }

    /// The last lines of its log, for failure messages.
    public func logTail(lines: Int = 40) -> String {
        let text = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
        return text.split(separator: "\n").suffix(lines).joined(separator: "\n")
    }

    /// How long a service may take to become healthy. The end-to-end round starts some 70
    /// processes at once on two cores; on a slow day a debug binary took 40 s from launch to its
    /// first log line, so this is a bound on the machine, not a claim about the services.
    public static let startupTimeout = Duration.seconds(90)

    /// Waits until `url` answers 200, failing after `timeout` with the log's tail.
    public func waitUntilHealthy(_ url: String, timeout: Duration = startupTimeout) async throws {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            guard process.isRunning else { throw ServiceFailure("\(name) exited early:\n\(logTail())") }
            if let reply = try? await TestHTTP.get(url), reply.status == 200 {
                return
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw ServiceFailure("\(name) did not become healthy at \(url):\n\(logTail())")
    }
}

/// A service under test misbehaved; the message carries its log.
public struct ServiceFailure: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
