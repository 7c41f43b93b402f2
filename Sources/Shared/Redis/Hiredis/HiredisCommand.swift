import CHiredis
import NIOCore

/// Commands in the Redis protocol, as hiredis's `redisFormatCommandArgv` writes them.
enum HiredisCommand {
    /// Appends the command made of `parts` (read as one argument list) to `buffer`. Binary-safe:
    /// every argument goes with its length.
    static func encode(_ parts: [[String]], into buffer: inout ByteBuffer) {
        let count = parts.reduce(0) { $0 + $1.count }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(parts.reduce(0) { total, part in part.reduce(total) { $0 + $1.utf8.count } })
        withUnsafeTemporaryAllocation(of: Int.self, capacity: count) { lengths in
            var index = 0
            for part in parts {
                for argument in part {
                    bytes.append(contentsOf: argument.utf8)
                    lengths[index] = argument.utf8.count
                    index += 1
                }
            }
            bytes.withUnsafeBufferPointer { storage in
                withUnsafeTemporaryAllocation(of: UnsafePointer<CChar>?.self, capacity: count) { arguments in
                    let base = UnsafeRawPointer(storage.baseAddress)?.assumingMemoryBound(to: CChar.self)
                    var offset = 0
                    for index in 0..<count {
                        arguments[index] = base.map { $0 + offset }
                        offset += lengths[index]
                    }
                    var command: UnsafeMutablePointer<CChar>?
                    let size = redisFormatCommandArgv(
                        &command, Int32(count), arguments.baseAddress, lengths.baseAddress)
                    // It fails only when malloc does.
                    precondition(size >= 0, "hiredis could not format a command")
                    defer { redisFreeCommand(command) }
                    buffer.writeBytes(UnsafeRawBufferPointer(start: command, count: Int(size)))
                }
            }
        }
    }
}
