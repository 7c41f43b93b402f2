import Foundation
import Logging
import Shared

/// This replica's copy of the links, in its own Redis.
///
/// Keys: `<ns>:link:<code>` is a hash (`url`, `exp` in ms since 1970 or empty, `state`, `rev`);
/// `<ns>:offsets:<topic>` maps each partition to the next offset to read. An event and its
/// offset are written by one Lua script, atomically: after a crash the replica resumes exactly
/// after the last applied event, and if Redis lost its data the offsets are gone with it and
/// the replica rebuilds from offset zero.
struct LinkStore: Sendable {
    /// What a code resolves to.
    enum Resolution: Equatable {
        case redirect(String)
        case notFound
        case gone
    }

    let redis: RedisConnection
    let namespace: Namespace

    private var offsetsKey: String { namespace.redisKey("offsets:\(namespace.linksTopic)") }
    private func linkKey(_ code: String) -> String { namespace.redisKey("link:\(code)") }

    /// Applies the event if it is newer than what is stored (by revision), and records the offset.
    private static let applyScript = RedisScript(
        """
        local stored = tonumber(redis.call('HGET', KEYS[1], 'rev') or '0')
        if tonumber(ARGV[3]) > stored then
            if ARGV[4] == 'deleted' then
                redis.call('HSET', KEYS[1], 'rev', ARGV[3], 'state', 'deleted')
            else
                redis.call('HSET', KEYS[1], 'rev', ARGV[3], 'state', ARGV[4], 'url', ARGV[5], 'exp', ARGV[6])
            end
        end
        redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
        return 1
        """)

    /// Applies one message of `<ns>-links`. Messages that are not valid link events are logged
    /// and skipped (their offset is recorded so the partition keeps moving).
    func apply(_ message: KafkaMessage, logger: Logger) async throws {
        let next = String(message.offset + 1)
        let event: LinkEvent
        do {
            event = try EventCodec.decodeLinkEvent(message.value)
        } catch {
            logger.warning(
                "Skipping an unusable link event",
                metadata: [
                    "kafka.topic": "\(message.topic)", "kafka.partition": "\(message.partition)",
                    "kafka.offset": "\(message.offset)", "event.error": "\(error.reason)", "error": "\(error)",
                ])
            _ = try await redis.send(["HSET", offsetsKey, String(message.partition), next])
            return
        }
        let expiry = event.expiresAt.map { String(Int64($0.timeIntervalSince1970 * 1000)) } ?? ""
        let state = event.type == .deleted ? "deleted" : "active"
        _ = try await redis.evaluate(
            Self.applyScript, keys: [linkKey(event.code), offsetsKey],
            arguments: [String(message.partition), next, String(event.revision), state, event.url ?? "", expiry]
        )
    }

    /// Partition → next offset to read, as recorded with the applied events.
    func appliedOffsets() async throws -> [Int32: Int64] {
        let reply = try await redis.send(["HGETALL", offsetsKey])
        let fields = reply.array ?? []
        var offsets: [Int32: Int64] = [:]
        for index in stride(from: 0, to: fields.count - 1, by: 2) {
            if let partition = fields[index].integer, let offset = fields[index + 1].integer {
                offsets[Int32(partition)] = offset
            }
        }
        return offsets
    }

    /// Looks a code up: one round trip.
    func resolve(_ code: String, now: Date = Date()) async throws -> Resolution {
        let reply = try await redis.send(["HMGET", linkKey(code), "url", "exp", "state"])
        guard let fields = reply.array, fields.count == 3, let url = fields[0].string else { return .notFound }
        if fields[2].string == "deleted" { return .gone }
        if let expiry = fields[1].integer, Double(expiry) / 1000 <= now.timeIntervalSince1970 { return .gone }
        return .redirect(url)
    }
}
