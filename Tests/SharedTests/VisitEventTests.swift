import Foundation
import SharedEvents
import SharedJSON
import SharedKafka
import SharedLinks
import Testing

@Suite struct VisitEventTests {
    static let time = Date(timeIntervalSince1970: 1_800_000_000.125)

    static func visit(
        domain: String? = nil, code: String = "abc", outcome: Int = 302, rule: Int? = nil, variant: Int? = nil
    ) -> VisitEvent {
        VisitEvent(
            domain: domain, code: code, outcome: outcome, rule: rule, variant: variant, country: "DE",
            device: "mobile", browser: "Safari", os: "iOS", referrer: "news.example", bot: false, replicaID: "a",
            at: time)
    }

    @Test func visitsWrittenByHandAreTheGenericEncodersBytesAndRoundTrip() throws {
        let events = [
            Self.visit(), Self.visit(domain: "go.example", rule: 2, variant: 1), Self.visit(code: "", outcome: 404),
            Self.visit(code: "no/such?thing", outcome: 404), Self.visit(outcome: 410),
        ]
        for event in events {
            let bytes = EventCodec.encode(event)
            #expect(bytes == Array(try JSONEncoder.project.encode(event)))
            #expect(try EventCodec.decodeVisitEvent(bytes) == event)
        }
        let text = String(decoding: EventCodec.encode(Self.visit()), as: UTF8.self)
        #expect(text.hasPrefix(#"{"bot":false,"browser":"Safari","code":"abc","country":"DE","device":"mobile","#))
        #expect(text.contains(#""outcome":302,"referrer":"news.example","replica_id":"a","type":"visit","version":1}"#))
        // Nothing personal: no address and no user agent, whatever the visit.
        for field in ["ip", "address", "user_agent", "\"ua\""] { #expect(!text.contains(field)) }
    }

    @Test func aVisitIsKeyedByItsLinkAndAnOrphanByOneKeyOfItsOwn() {
        #expect(Self.visit().key == "abc")
        #expect(Self.visit(domain: "go.example").key == "go.example/abc")
        #expect(Self.visit(outcome: 410).key == "abc")
        #expect(Self.visit(outcome: 404).key == VisitEvent.orphanKey)
        #expect(Self.visit(code: "", outcome: 302).key == VisitEvent.orphanKey)
        #expect(LinkAddress(key: VisitEvent.orphanKey) == nil, "no link's key can be the orphans'")
    }

    @Test func aRequestedCodeIsRecordedShortAndPrintable() {
        #expect(VisitEvent.recordedCode("abc") == "abc")
        #expect(VisitEvent.recordedCode("a b\u{1}é") == "a?b???")
        #expect(VisitEvent.recordedCode(Substring(String(repeating: "x", count: 500))).count == 64)
    }

    @Test func visitsOutsideTheirRangesAreUnusable() {
        var bad: [VisitEvent] = [
            Self.visit(code: "not a code", outcome: 302), Self.visit(outcome: 99), Self.visit(rule: 0),
            Self.visit(rule: 33), Self.visit(variant: 10), Self.visit(domain: "UPPER.example"),
        ]
        var empty = Self.visit()
        empty.country = ""
        var control = Self.visit()
        control.referrer = "a\u{7F}b"
        var replica = Self.visit()
        replica.replicaID = "a b"
        bad += [empty, control, replica]
        for event in bad {
            #expect(throws: EventDecodingError.self, "\(event)") {
                try EventCodec.decodeVisitEvent(EventCodec.encode(event))
            }
        }
    }

    /// The readers find a key's visits where the replicas' producers put them: on the partition
    /// Kafka's default partitioner (murmur2, as the Java clients compute it) gives the key.
    @Test func aKeysPartitionIsTheJavaClientsMurmur2Partition() {
        // Apache Kafka's own test figures for Utils.murmur2, made positive (& 0x7fffffff) as
        // its partitioner does, modulo a partition count that keeps the whole hash.
        let hashes: [(String, Int64)] = [("21", -973_932_308), ("foobar", -790_332_482), ("abc", 479_470_107)]
        for (key, hash) in hashes {
            let partition = KafkaPartitionReader.partition(ofKey: key, count: .max)
            #expect(Int64(partition) == (hash & 0x7fff_ffff) % Int64(Int32.max), "\(key)")
        }
        var seen = Set<Int32>()
        for index in 0..<300 {
            let partition = KafkaPartitionReader.partition(ofKey: "link\(index)", count: 3)
            #expect((0..<3).contains(partition))
            seen.insert(partition)
        }
        #expect(seen.count == 3)
    }
}
