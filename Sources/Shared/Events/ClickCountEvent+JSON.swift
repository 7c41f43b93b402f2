import Foundation
import SharedJSON

extension EventCodec {
    /// A count event as compact JSON, written by hand (``JSONWriter``): the same bytes as the
    /// generic encoder of events writes, at a fraction of the cost. Replicas send thousands a
    /// second, each with its breakdown, and Foundation's encoder was the largest part of their
    /// reports.
    public static func encode(_ event: ClickCountEvent) -> [UInt8] {
        var json = JSONWriter()
        json.open()
        if let bots = event.bots {
            json.key("bots")
            json.breakdown(bots)
        }
        json.field("code", event.code)
        json.field("domain", event.domain)
        json.field("event_id", event.eventID)
        if let humans = event.humans {
            json.key("humans")
            json.breakdown(humans)
        }
        json.field("occurred_at", event.occurredAt)
        json.field("replica_epoch", event.replicaEpoch)
        json.field("replica_id", event.replicaID)
        json.field("total", event.total)
        json.field("type", event.type.rawValue)
        json.field("version", Int64(event.version))
        json.close()
        return json.bytes
    }
}

extension JSONWriter {
    /// A breakdown as nested objects, dimensions and values in sorted order.
    mutating func breakdown(_ breakdown: ClickBreakdown) {
        open()
        for (dimension, counts) in breakdown.values.sorted(by: { $0.key.rawValue < $1.key.rawValue }) {
            key(dimension.rawValue)
            open()
            for (value, total) in counts.sorted(by: { $0.key < $1.key }) {
                key(value)
                integer(total)
            }
            close()
        }
        close()
    }
}
