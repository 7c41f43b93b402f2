import Foundation
import SharedConfiguration
import SharedKafka

/// One partition's messages on disk, in offset order: what lets the in-memory dev broker come
/// back with the same topics after a restart.
///
/// A file of records, each `u32 length` then the body: `i64 offset`, `i64 timestamp` (-1: none),
/// `i32 key length` (-1: no key), key, `i32 value length`, value, `u16 header count`, and per
/// header `u16 name length`, name, `i32 value length`, value; integers little-endian. Appends
/// are buffered and written and fsynced by ``flush()``; a record cut short by a crash is
/// dropped (and the file truncated to the last whole record) when the journal is opened.
///
/// Not thread-safe: one ``DevBrokerMirror`` owns each journal and uses it under its lock.
final class PartitionJournal {
    /// One stored message.
    struct Record {
        var offset: Int64
        var timestamp: Int64?
        var key: [UInt8]?
        var value: [UInt8]
        var headers: [KafkaHeader]
    }

    let path: String
    /// The records read when the journal was opened.
    private(set) var restored: [Record]
    /// The offset the next record must have: every offset before it is in the journal.
    private(set) var nextOffset: Int64
    private var pending: [UInt8] = []
    private let descriptor: Int32

    /// Opens (or creates) the journal at `path`, reading what it holds.
    init(path: String) throws {
        self.path = path
        let data = FileManager.default.contents(atPath: path) ?? Data()
        let (records, wholeLength) = Self.decode(Array(data))
        restored = records
        nextOffset = (records.last?.offset).map { $0 + 1 } ?? 0
        descriptor = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw SettingError("cannot open \(path): errno \(errno)") }
        if wholeLength < data.count { _ = ftruncate(descriptor, off_t(wholeLength)) }
    }

    deinit { close(descriptor) }

    /// Buffers `messages` (offset order, the next of which is ``nextOffset`` or later).
    func append(_ messages: some Sequence<KafkaMessage>) {
        for message in messages where message.offset >= nextOffset {
            var body: [UInt8] = []
            Self.put(message.offset, into: &body)
            Self.put(message.timestamp ?? -1, into: &body)
            Self.putBytes(message.key, into: &body)
            Self.putBytes(message.value, into: &body)
            Self.put(UInt16(clamping: message.headers.count), into: &body)
            for header in message.headers.prefix(Int(UInt16.max)) {
                let name = Array(header.name.utf8.prefix(Int(UInt16.max)))
                Self.put(UInt16(name.count), into: &body)
                body += name
                Self.putBytes(header.value, into: &body)
            }
            Self.put(UInt32(body.count), into: &pending)
            pending += body
            nextOffset = message.offset + 1
        }
    }

    /// Writes what was appended and waits until it is on disk.
    func flush() throws {
        guard !pending.isEmpty else { return }
        var written = 0
        while written < pending.count {
            let result = pending[written...].withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
            guard result > 0 else { throw SettingError("cannot write \(path): errno \(errno)") }
            written += result
        }
        pending.removeAll(keepingCapacity: true)
        guard fsync(descriptor) == 0 else { throw SettingError("cannot sync \(path): errno \(errno)") }
    }

    /// Drops the records read at opening (they were handed back to the cluster).
    func forgetRestored() { restored = [] }

    // MARK: Encoding

    private static func put<Integer: FixedWidthInteger>(_ value: Integer, into bytes: inout [UInt8]) {
        withUnsafeBytes(of: value.littleEndian) { bytes += $0 }
    }

    private static func putBytes(_ value: [UInt8]?, into bytes: inout [UInt8]) {
        guard let value else { return put(Int32(-1), into: &bytes) }
        put(Int32(value.count), into: &bytes)
        bytes += value
    }

    /// The whole records in `bytes`, and how many bytes they take.
    static func decode(_ bytes: [UInt8]) -> ([Record], Int) {
        var records: [Record] = []
        var position = 0
        while position + 4 <= bytes.count {
            var reader = Reader(bytes: bytes, position: position)
            guard let length = reader.read(UInt32.self), position + 4 + Int(length) <= bytes.count,
                let record = reader.record(), reader.position == position + 4 + Int(length)
            else { break }
            records.append(record)
            position = reader.position
        }
        return (records, position)
    }

    /// Reads little-endian integers and byte strings, failing (nil) past the end.
    private struct Reader {
        let bytes: [UInt8]
        var position: Int

        mutating func read<Integer: FixedWidthInteger>(_: Integer.Type) -> Integer? {
            let size = MemoryLayout<Integer>.size
            guard position + size <= bytes.count else { return nil }
            var value = Integer.zero
            for index in 0..<size { value |= Integer(bytes[position + index]) << (8 * index) }
            position += size
            return value
        }

        mutating func readBytes(count: Int) -> [UInt8]? {
            guard count >= 0, position + count <= bytes.count else { return nil }
            defer { position += count }
            return Array(bytes[position..<position + count])
        }

        mutating func record() -> Record? {
            guard let offset = read(Int64.self), let timestamp = read(Int64.self), let keyLength = read(Int32.self)
            else { return nil }
            var key: [UInt8]?
            if keyLength >= 0 {
                guard let bytes = readBytes(count: Int(keyLength)) else { return nil }
                key = bytes
            }
            guard let valueLength = read(Int32.self), let value = readBytes(count: Int(valueLength)),
                let headerCount = read(UInt16.self)
            else { return nil }
            var headers: [KafkaHeader] = []
            for _ in 0..<headerCount {
                guard let nameLength = read(UInt16.self), let name = readBytes(count: Int(nameLength)),
                    let valueLength = read(Int32.self), let value = readBytes(count: Int(valueLength))
                else { return nil }
                headers.append(KafkaHeader(String(decoding: name, as: UTF8.self), value))
            }
            return Record(
                offset: offset, timestamp: timestamp >= 0 ? timestamp : nil, key: key, value: value, headers: headers)
        }
    }
}
