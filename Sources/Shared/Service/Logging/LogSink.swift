import Foundation
import NIOConcurrencyHelpers
import SharedConfiguration

/// Where formatted log lines go: the terminal (standard error) and, optionally, a file,
/// both written under one lock so that lines never interleave.
public final class LogSink: Sendable {
    private let descriptors: [Int32]
    private let lock = NIOLock()

    /// Opens `filePath` for appending (creating its folder) unless it is empty.
    public init(filePath: String, writesToTerminal: Bool = true) throws {
        var descriptors = writesToTerminal ? [STDERR_FILENO] : []
        if !filePath.isEmpty {
            let folder = URL(fileURLWithPath: filePath).deletingLastPathComponent().path
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            let descriptor = open(filePath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
            guard descriptor >= 0 else {
                throw SettingError("cannot open log file \(filePath): \(String(cString: strerror(errno)))")
            }
            descriptors.append(descriptor)
        }
        self.descriptors = descriptors
    }

    /// Writes one complete line (a newline is added).
    public func write(line: String) {
        var bytes = Array(line.utf8)
        bytes.append(UInt8(ascii: "\n"))
        lock.withLock {
            bytes.withUnsafeBytes { buffer in
                for descriptor in descriptors { Self.writeAll(buffer, to: descriptor) }
            }
        }
    }

    private static func writeAll(_ buffer: UnsafeRawBufferPointer, to descriptor: Int32) {
        var written = 0
        while written < buffer.count {
            let result = Foundation.write(descriptor, buffer.baseAddress! + written, buffer.count - written)
            if result < 0 && errno == EINTR { continue }
            guard result > 0 else { return }
            written += result
        }
    }

    deinit {
        for descriptor in descriptors where descriptor != STDERR_FILENO { close(descriptor) }
    }
}
