import Foundation

/// Writes CSV records (RFC 4180) to a file or standard output through a 64 KiB buffer: fields
/// with a comma, a quote or a line break are quoted, quotes doubled; records end with LF.
struct CSVWriter {
    private let handle: FileHandle
    private var buffer: [UInt8] = []

    /// Writes to `handle` (standard output by default).
    init(handle: FileHandle = .standardOutput) {
        self.handle = handle
        buffer.reserveCapacity(64 * 1024)
    }

    /// Writes to a new file at `path`, replacing one that is there.
    init(creating path: String) throws {
        guard FileManager.default.createFile(atPath: path, contents: nil),
            let handle = FileHandle(forWritingAtPath: path)
        else { throw CSVReader.Problem(description: "cannot create \(path)") }
        self.init(handle: handle)
    }

    /// Writes one record.
    mutating func write(_ fields: [String]) throws {
        Self.append(fields, to: &buffer)
        if buffer.count >= 64 * 1024 { try flush() }
    }

    /// Appends one record to `buffer`: what ``write(_:)`` writes, for a caller with its own
    /// output (the export over HTTP).
    static func append(_ fields: [String], to buffer: inout [UInt8]) {
        for (index, field) in fields.enumerated() {
            if index > 0 { buffer.append(UInt8(ascii: ",")) }
            let bytes = Array(field.utf8)
            if bytes.contains(where: { $0 == UInt8(ascii: ",") || $0 == UInt8(ascii: "\"") || $0 == 0x0A || $0 == 0x0D }
            ) {
                buffer.append(UInt8(ascii: "\""))
                for byte in bytes {
                    if byte == UInt8(ascii: "\"") { buffer.append(byte) }
                    buffer.append(byte)
                }
                buffer.append(UInt8(ascii: "\""))
            } else {
                buffer.append(contentsOf: bytes)
            }
        }
        buffer.append(0x0A)
    }

    /// Writes out what is buffered.
    mutating func flush() throws {
        guard !buffer.isEmpty else { return }
        try handle.write(contentsOf: buffer)
        buffer.removeAll(keepingCapacity: true)
    }
}
