import Foundation

/// A plain blocking TCP connection to a loopback port, for tests that speak broken HTTP on
/// purpose or just hold a socket open.
public final class RawSocket: @unchecked Sendable {
    // @unchecked: each socket is used by one test task at a time.
    private let descriptor: Int32
    private var closed = false

    /// A connection to `port`; `receiveBufferSize` shrinks the socket's receive buffer (a client
    /// that reads nothing then holds little of what is sent to it).
    public init(port: Int, receiveBufferSize: Int32? = nil) throws {
        descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw ServiceFailure("socket() failed: errno \(errno)") }
        if var size = receiveBufferSize {
            setsockopt(descriptor, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = UInt16(port).bigEndian
        let result = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard result == 0 else {
            let code = errno
            Glibc.close(descriptor)
            throw ServiceFailure("connect to port \(port) failed: errno \(code)")
        }
    }

    deinit { close() }

    /// Sends `bytes`; false when the peer has closed the connection.
    @discardableResult
    public func send(_ bytes: [UInt8]) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let sent = bytes[offset...].withUnsafeBytes {
                Glibc.send(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL))
            }
            guard sent > 0 else { return false }
            offset += sent
        }
        return true
    }

    @discardableResult
    public func send(_ text: String) -> Bool { send(Array(text.utf8)) }

    /// Closes the sending side (`shutdown(SHUT_WR)`): the peer reads an end, and may still answer.
    public func finishSending() {
        shutdown(descriptor, Int32(SHUT_WR))
    }

    /// What the peer sends until it closes the connection or `timeout` passes, and whether it
    /// closed; with `untilHeadEnds`, only until the end of a response head has arrived (an
    /// answer on a connection kept open). The wait blocks a thread of its own, never one of the
    /// few that run the test process's tasks (its HTTP clients, the servers some tests run).
    public func receive(timeout: Duration, untilHeadEnds: Bool = false) async -> (text: String, closed: Bool) {
        await withCheckedContinuation { continuation in
            Thread {
                continuation.resume(returning: self.receiveBlocking(timeout: timeout, untilHeadEnds: untilHeadEnds))
            }
            .start()
        }
    }

    private func receiveBlocking(timeout: Duration, untilHeadEnds: Bool) -> (text: String, closed: Bool) {
        let deadline = ContinuousClock.now + timeout
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while ContinuousClock.now < deadline {
            let left = deadline - ContinuousClock.now
            var poller = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
            let milliseconds = Int32(
                max(1, left.components.seconds * 1000 + left.components.attoseconds / 1_000_000_000_000_000))
            guard poll(&poller, 1, milliseconds) > 0 else { continue }
            let count = buffer.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
            if count <= 0 { return (String(decoding: received, as: UTF8.self), true) }
            received += buffer[..<count]
            if untilHeadEnds, String(decoding: received, as: UTF8.self).contains("\r\n\r\n") { break }
        }
        return (String(decoding: received, as: UTF8.self), false)
    }

    public func close() {
        guard !closed else { return }
        closed = true
        Glibc.close(descriptor)
    }
}

/// Many idle TCP connections to a loopback port, held open by a child shell until this value
/// goes away. Thousands of descriptors in the test process itself break Foundation's
/// `Process.run` for the tests that start services meanwhile: it walks every open descriptor,
/// and once crashed doing so while the descriptors came and went.
public final class IdleConnections: @unchecked Sendable {
    // @unchecked: `process` is only touched by the test that owns this value.
    private let process = Process()

    /// Opens `count` connections to `port` and returns once all are open.
    public init(count: Int, port: Int) async throws {
        let readyPath = NSTemporaryDirectory() + "shortener-test-idle-\(UUID().uuidString.prefix(8))"
        _ = FileManager.default.createFile(atPath: readyPath, contents: nil)
        defer { try? FileManager.default.removeItem(atPath: readyPath) }
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = [
            "-c",
            """
            for ((i = 0; i < \(count); i++)); do exec {fd}<>/dev/tcp/127.0.0.1/\(port) || exit 1; done
            echo open; exec sleep 600
            """,
        ]
        process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: readyPath))
        try process.run()
        let deadline = ContinuousClock.now + ServiceProcess.startupTimeout
        while (try? String(contentsOfFile: readyPath, encoding: .utf8))?.hasPrefix("open") != true {
            guard process.isRunning, ContinuousClock.now < deadline else {
                throw ServiceFailure("could not open \(count) idle connections to port \(port)")
            }
            try await Task.sleep(for: .milliseconds(50))
        }
    }

    /// Closes them all.
    public func close() {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }

    deinit { close() }
}
