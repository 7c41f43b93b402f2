import Foundation

/// Reads CSV records (RFC 4180: commas, double quotes around fields that need them, `""` for a
/// quote inside one, CRLF or LF between records) from a file, a chunk at a time, so a file of
/// any size is read in little memory. A UTF-8 byte order mark at the start is skipped.
struct CSVReader {
    /// Why a file cannot be read as CSV.
    struct Problem: Error, CustomStringConvertible {
        let description: String
    }

    /// Longest record accepted, in bytes (a bound against a file that is not CSV at all).
    static let maximumRecordSize = 1 << 20

    private let handle: FileHandle
    private var buffer: [UInt8] = []
    private var position = 0
    private var atEnd = false
    private var atStart = true
    /// Records read so far, for error messages.
    private(set) var recordNumber = 0

    init(path: String) throws {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw Problem(description: "cannot open \(path)")
        }
        self.handle = handle
    }

    /// The next record's fields, or nil at the end of the file. Blank lines are skipped.
    mutating func next() throws -> [String]? {
        while true {
            guard let record = try nextRecord() else { return nil }
            if record != [""] { return record }
        }
    }

    private mutating func nextRecord() throws -> [String]? {
        var fields: [String] = []
        var field: [UInt8] = []
        var quoted = false
        var size = 0
        guard try fill() else { return nil }
        recordNumber += 1
        while true {
            guard try fill() else {
                if quoted { throw Problem(description: "record \(recordNumber): a quoted field never ends") }
                fields.append(String(decoding: field, as: UTF8.self))
                return fields
            }
            let byte = buffer[position]
            position += 1
            size += 1
            guard size <= Self.maximumRecordSize else {
                throw Problem(description: "record \(recordNumber) is longer than \(Self.maximumRecordSize) bytes")
            }
            if quoted {
                if byte == UInt8(ascii: "\"") {
                    guard try fill(), buffer[position] == UInt8(ascii: "\"") else {
                        quoted = false
                        continue
                    }
                    position += 1
                }
                field.append(byte)
                continue
            }
            switch byte {
            case UInt8(ascii: "\"") where field.isEmpty:
                quoted = true
            case UInt8(ascii: ","):
                fields.append(String(decoding: field, as: UTF8.self))
                field.removeAll(keepingCapacity: true)
            case UInt8(ascii: "\n"):
                fields.append(String(decoding: field, as: UTF8.self))
                return fields
            case UInt8(ascii: "\r"):
                if try fill(), buffer[position] == UInt8(ascii: "\n") { position += 1 }
                fields.append(String(decoding: field, as: UTF8.self))
                return fields
            default:
                field.append(byte)
            }
        }
    }

    /// Makes sure a byte is there to read; false at the end of the file.
    private mutating func fill() throws -> Bool {
        if position < buffer.count { return true }
        guard !atEnd else { return false }
        let chunk = try handle.read(upToCount: 64 * 1024) ?? Data()
        buffer = Array(chunk)
        position = 0
        if chunk.isEmpty {
            atEnd = true
            try? handle.close()
            return false
        }
        if atStart {
            atStart = false
            if buffer.starts(with: [0xEF, 0xBB, 0xBF]) { position = 3 }
            if position < buffer.count { return true }
            return try fill()
        }
        return true
    }
}
