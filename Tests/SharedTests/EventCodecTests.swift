import Foundation
import SharedConfiguration
import SharedEvents
import SharedJSON
import SharedKafka
import SharedPostgres
import Testing
import SharedLinks

@Suite struct EventCodecTests {
    @Test func linkEventsRoundTrip() throws {
        let created = LinkEvent.created(
            LinkAddress(code: "abc"), url: "https://example.com/x",
            expiresAt: Date(timeIntervalSince1970: 1_900_000_000.25),
            at: Date(timeIntervalSince1970: 1_800_000_000.5))
        #expect(try EventCodec.decodeLinkEvent(EventCodec.encode(created)) == created)
        let deleted = LinkEvent.deleted(LinkAddress(code: "abc"), revision: 2)
        let decoded = try EventCodec.decodeLinkEvent(EventCodec.encode(deleted))
        #expect(decoded.type == .deleted && decoded.revision == 2 && decoded.url == nil)
    }

    @Test func updatesCarryTheWholeStateAndTagsAreChecked() throws {
        let updated = LinkEvent.updated(
            LinkAddress(code: "abc"), revision: 3, url: "https://example.com/new", expiresAt: nil, maxClicks: 10,
            tags: ["docs", "q4"], exhausted: true, at: Date(timeIntervalSince1970: 1_800_000_000.5))
        let decoded = try EventCodec.decodeLinkEvent(EventCodec.encode(updated))
        #expect(decoded == updated)
        #expect(decoded.type == .updated && decoded.exhausted == true && decoded.tags == ["docs", "q4"])
        let object = try #require(
            try JSONSerialization.jsonObject(with: Data(EventCodec.encode(updated))) as? [String: Any])
        #expect(object["type"] as? String == "link.updated")
        #expect(object["tags"] as? [String] == ["docs", "q4"])
        let live = LinkEvent.updated(
            LinkAddress(code: "abc"), revision: 4, url: "https://e.com", expiresAt: nil, maxClicks: nil, tags: [])
        let liveObject = try #require(
            try JSONSerialization.jsonObject(with: Data(EventCodec.encode(live))) as? [String: Any])
        #expect(liveObject["exhausted"] == nil)
        for tags in [["Upper"], ["a", "a"], Array(repeating: "t", count: 11).enumerated().map { "t\($0.offset)" }] {
            var bad = updated
            bad.tags = tags
            #expect(throws: EventDecodingError.self, "\(tags)") {
                try EventCodec.decodeLinkEvent(EventCodec.encode(bad))
            }
        }
        var withoutURL = updated
        withoutURL.url = nil
        #expect(throws: EventDecodingError.self) { try EventCodec.decodeLinkEvent(EventCodec.encode(withoutURL)) }
    }

    @Test func linkEventsWrittenByHandAreTheGenericEncodersBytes() throws {
        let time = Date(timeIntervalSince1970: 1_800_000_000.25)
        var reannounced = LinkEvent.created(
            LinkAddress(code: "abc"), url: "https://e.com/a", expiresAt: nil, revision: 3, at: time)
        reannounced.reannounced = true
        let events = [
            LinkEvent.created(LinkAddress(code: "abc"), url: "https://e.com/a?b=c#d", expiresAt: nil, at: time),
            LinkEvent.created(
                LinkAddress(code: "a-B_9"), url: "https://e.com/", expiresAt: time.addingTimeInterval(86_400),
                maxClicks: 5,
                tags: ["docs", "q4-launch"], at: time),
            LinkEvent.updated(
                LinkAddress(code: "abc"), revision: 7, url: "https://e.com/b", expiresAt: nil, maxClicks: 1, tags: [],
                exhausted: true, at: time),
            LinkEvent.deleted(LinkAddress(code: "abc"), revision: 2, at: time),
            LinkEvent.exhausted(LinkAddress(code: "abc"), revision: 4, at: time),
            reannounced,
            // Escapes as Foundation's (such a URL never passes validation, but is written alike).
            LinkEvent.created(
                LinkAddress(code: "a"), url: "https://e.com/\"\\\n\t\u{1}\u{7F}é/x", expiresAt: nil, at: time),
        ]
        for event in events {
            #expect(EventCodec.encode(event) == Array(try JSONEncoder.project.encode(event)))
        }
        for event in events.dropLast() { #expect(try EventCodec.decodeLinkEvent(EventCodec.encode(event)) == event) }
    }

    @Test func countEventsWrittenByHandAreTheGenericEncodersBytes() throws {
        let time = Date(timeIntervalSince1970: 1_800_000_000.25)
        let events = [
            ClickCountEvent(LinkAddress(code: "abc"), replicaID: "a", replicaEpoch: "1795-ff", total: 42, at: time),
            ClickCountEvent(
                LinkAddress(code: "abc"), replicaID: "a", replicaEpoch: "1795-ff", total: 42,
                humans: ClickBreakdown([
                    .hour: ["2026112717": 30, "2026112716": 2], .referrer: ["t.co": 20, "direct": 12],
                    .country: ["US": 32], .device: ["mobile": 32], .browser: ["Samsung Internet": 32], .os: ["iOS": 32],
                ]),
                bots: ClickBreakdown([.device: ["bot": 10], .referrer: ["invalid": 10]]), at: time),
        ]
        for event in events {
            #expect(EventCodec.encode(event) == Array(try JSONEncoder.project.encode(event)))
            #expect(try EventCodec.decodeClickCountEvent(EventCodec.encode(event)) == event)
        }
        // Escapes as Foundation's (such a value never passes the range check, but is written alike).
        let odd = ClickCountEvent(
            LinkAddress(code: "a"), replicaID: "a", replicaEpoch: "e", total: 1,
            humans: ClickBreakdown([.referrer: ["a\"b\\c\n\t\u{1}é/x": 1]]), at: time)
        #expect(EventCodec.encode(odd) == Array(try JSONEncoder.project.encode(odd)))
    }

    @Test func wireFormatHasTheContractFields() throws {
        let event = LinkEvent.created(
            LinkAddress(code: "abc"), url: "https://e.com/a", expiresAt: nil,
            at: Date(timeIntervalSince1970: 0))
        let object = try #require(
            try JSONSerialization.jsonObject(with: Data(EventCodec.encode(event))) as? [String: Any])
        #expect(object["type"] as? String == "link.created")
        #expect(object["version"] as? Int == 1)
        #expect(object["code"] as? String == "abc")
        #expect(object["revision"] as? Int == 1)
        #expect(object["url"] as? String == "https://e.com/a")
        #expect(object["occurred_at"] as? String == "1970-01-01T00:00:00.000Z")
        #expect((object["event_id"] as? String).flatMap(UUID.init(uuidString:)) != nil)
    }

    @Test func tellsApartTheWaysAMessageIsUnusable() {
        func failure(_ text: String) -> String? {
            do {
                _ = try EventCodec.decodeLinkEvent(Array(text.utf8))
                return nil
            } catch {
                return error.reason
            }
        }
        #expect(failure("not json") == "malformed")
        #expect(failure(#"{"version":1}"#) == "malformed")
        #expect(failure(#"{"type":"link.renamed","version":1}"#) == "unknown_type")
        #expect(failure(#"{"type":"link.created","version":2}"#) == "unsupported_version")
        #expect(failure(#"{"type":"link.created","version":1,"code":"a"}"#) == "malformed")
        // A whole event that would decode, but of a later schema version.
        let whole = String(
            decoding: EventCodec.encode(LinkEvent.deleted(LinkAddress(code: "a"), revision: 2)), as: UTF8.self)
        #expect(
            failure(whole.replacingOccurrences(of: #""version":1"#, with: #""version":2"#)) == "unsupported_version")
    }

    @Test func clickCountEventsRoundTripWithTheContractFields() throws {
        let event = ClickCountEvent(
            LinkAddress(code: "abc"), replicaID: "b", replicaEpoch: "1763869200123456-3fa9c1d2", total: 300,
            at: Date(timeIntervalSince1970: 0))
        let bytes = EventCodec.encode(event)
        #expect(try EventCodec.decodeClickCountEvent(bytes) == event)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any])
        #expect(object["type"] as? String == "clicks.counted")
        #expect(object["version"] as? Int == 1)
        #expect(object["replica_id"] as? String == "b")
        #expect(object["replica_epoch"] as? String == "1763869200123456-3fa9c1d2")
        #expect(object["total"] as? Int == 300)
        #expect(object["occurred_at"] as? String == "1970-01-01T00:00:00.000Z")

        // A link event is not a count event, and a count event without its total is unusable.
        let link = EventCodec.encode(LinkEvent.created(LinkAddress(code: "abc"), url: "https://e.com", expiresAt: nil))
        #expect(throws: EventDecodingError.unknownType("link.created")) { try EventCodec.decodeClickCountEvent(link) }
        #expect(throws: EventDecodingError.self) {
            try EventCodec.decodeClickCountEvent(Array(#"{"type":"clicks.counted","version":1,"code":"a"}"#.utf8))
        }
    }

    @Test(
        arguments: [
            ClickCountEvent(LinkAddress(code: "abc"), replicaID: "a", replicaEpoch: "e1", total: -1),
            ClickCountEvent(LinkAddress(code: "abc"), replicaID: "a", replicaEpoch: "e\u{0}1", total: 5),
            ClickCountEvent(
                LinkAddress(code: "abc"), replicaID: "a", replicaEpoch: String(repeating: "9", count: 65), total: 5),
            ClickCountEvent(LinkAddress(code: "abc"), replicaID: "a", replicaEpoch: "", total: 5),
            ClickCountEvent(LinkAddress(code: "a/b"), replicaID: "a", replicaEpoch: "e1", total: 5),
            ClickCountEvent(LinkAddress(code: "abc"), replicaID: "a\u{0}", replicaEpoch: "e1", total: 5),
            // Two such totals overflowed the master's 64-bit sum.
            ClickCountEvent(LinkAddress(code: "abc"), replicaID: "a", replicaEpoch: "e1", total: .max),
            ClickCountEvent(
                LinkAddress(code: "abc"), replicaID: "a", replicaEpoch: "e1", total: ClickCountEvent.maximumTotal + 1),
            ClickCountEvent(
                LinkAddress(code: "abc"), replicaID: "a", replicaEpoch: "e1", total: 5,
                humans: ClickBreakdown([.referrer: ["x.example": .max]])),
        ])
    func countEventsPostgresCannotStoreAreUnusableNotRetried(event: ClickCountEvent) {
        // Decoding fails as for malformed JSON, so the consumer dead-letters it instead of
        // retrying a write that can never succeed while aggregation stalls.
        #expect(throws: EventDecodingError.self) { try EventCodec.decodeClickCountEvent(EventCodec.encode(event)) }
    }

    @Test func linkEventsOutsideTheRangeReplicasStoreAreUnusable() {
        var farFuture = LinkEvent.created(LinkAddress(code: "abc"), url: "https://e.com", expiresAt: nil)
        farFuture.expiresAt = Date(timeIntervalSince1970: 1e15)
        var badCode = LinkEvent.created(LinkAddress(code: "abc"), url: "https://e.com", expiresAt: nil)
        badCode.code = "a b"
        var controlURL = LinkEvent.created(LinkAddress(code: "abc"), url: "https://e.com", expiresAt: nil)
        controlURL.url = "https://e.com/\r\nSet-Cookie: x"
        for event in [farFuture, badCode, controlURL] {
            #expect(throws: EventDecodingError.self) { try EventCodec.decodeLinkEvent(EventCodec.encode(event)) }
        }
    }

    @Test(arguments: ["javascript:alert(1)", "data:text/html,x", "ftp://e.com/x", "//e.com", "httpx://e.com"])
    func aReplicaTakesOnlyHTTPTargetsWhoeverWroteTheEvent(url: String) {
        let event = LinkEvent.created(LinkAddress(code: "abc"), url: url, expiresAt: nil)
        #expect(throws: EventDecodingError.self) { try EventCodec.decodeLinkEvent(EventCodec.encode(event)) }
        let fine = LinkEvent.created(LinkAddress(code: "abc"), url: "HTTPS://e.com/" + url, expiresAt: nil)
        #expect(throws: Never.self) { try EventCodec.decodeLinkEvent(EventCodec.encode(fine)) }
    }
}

@Suite struct SQLScriptTests {
    @Test func splitsAtTopLevelSemicolonsOnly() {
        let statements = SQLScript.statements(
            """
            CREATE TABLE a (x text DEFAULT ';'); -- a comment; with a semicolon
            CREATE FUNCTION f() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN PERFORM 1; RETURN NULL; END;
            $$;
            SELECT 'it''s; fine';
            """)
        #expect(statements.count == 3)
        #expect(statements[0] == "CREATE TABLE a (x text DEFAULT ';')")
        #expect(statements[1].hasSuffix("$$") && statements[1].contains("RETURN NULL;"))
        #expect(statements[2] == "SELECT 'it''s; fine'")
    }
}

@Suite struct NamespaceTests {
    @Test func namesEverythingSharedWithThePrefix() throws {
        let namespace = try Namespace("alice")
        #expect(namespace.linksTopic == "alice-links")
        #expect(namespace.countsTopic == "alice-counts")
        #expect(namespace.replicaGroup(replicaID: "b") == "alice-replica-b")
        #expect(namespace.redisKey("link:x") == "alice:link:x")
        #expect(throws: SettingError.self) { try Namespace("Alice") }
        #expect(throws: SettingError.self) { try Namespace("") }
        #expect(throws: SettingError.self) { try Namespace("a b") }
    }
}

@Suite struct LinkMilestoneEventTests {
    @Test func milestonesAreAHundredAndEveryTenfoldPassedBetweenTwoTotals() {
        #expect(LinkMilestoneEvent.milestones(crossedFrom: 0, to: 99) == [])
        #expect(LinkMilestoneEvent.milestones(crossedFrom: 99, to: 100) == [100])
        #expect(LinkMilestoneEvent.milestones(crossedFrom: 100, to: 999) == [])
        #expect(LinkMilestoneEvent.milestones(crossedFrom: 50, to: 12_000) == [100, 1000, 10_000])
        #expect(LinkMilestoneEvent.milestones(crossedFrom: 5, to: Int64.max).count == 17)
    }

    @Test func roundTripsWithTheContractFields() throws {
        let event = LinkMilestoneEvent(
            LinkAddress(code: "abc"), milestone: 1000, clicks: 1004, at: Date(timeIntervalSince1970: 1_800_000_000))
        let bytes = EventCodec.encode(event)
        #expect(try EventCodec.decodeLinkMilestoneEvent(bytes) == event)
        let json = try #require(try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any])
        #expect(Set(json.keys) == ["type", "version", "event_id", "occurred_at", "code", "milestone", "clicks"])
        #expect(json["type"] as? String == "link.milestone")
        #expect(throws: EventDecodingError.self) {
            try EventCodec.decodeLinkMilestoneEvent(
                EventCodec.encode(LinkEvent.deleted(LinkAddress(code: "abc"), revision: 2)))
        }
    }

    @Test func theSameMilestoneOfTheSameLinkHasTheSameEventID() {
        let first = LinkMilestoneEvent(LinkAddress(code: "abc"), milestone: 100, clicks: 104)
        let again = LinkMilestoneEvent(
            LinkAddress(code: "abc"), milestone: 100, clicks: 130, at: Date().addingTimeInterval(60))
        #expect(first.eventID == again.eventID)
        #expect(first.eventID != LinkMilestoneEvent(LinkAddress(code: "abc"), milestone: 1000, clicks: 1000).eventID)
        #expect(first.eventID != LinkMilestoneEvent(LinkAddress(code: "abd"), milestone: 100, clicks: 100).eventID)
        #expect(first.eventID.uuidString.dropFirst(14).first == "8", "a version 8 UUID")
    }
}

@Suite struct AuditEventTests {
    @Test func roundTripsWithTheContractFieldsAndLeavesOutWhatIsUnknown() throws {
        let event = AuditEvent(
            .keyRevoked, subject: "key_abc", actorKeyID: "key_admin", actorKeyName: "ops", requestID: "r1",
            at: Date(timeIntervalSince1970: 1_800_000_000))
        let bytes = EventCodec.encode(event)
        let json = try #require(try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any])
        #expect(json["type"] as? String == "audit" && json["version"] as? Int == 1)
        #expect(json["action"] as? String == "key.revoked" && json["subject"] as? String == "key_abc")
        #expect(json["actor_key_id"] as? String == "key_admin" && json["request_id"] as? String == "r1")
        #expect(try EventCodec.decodeAuditEvent(bytes) == event)

        let anonymous = AuditEvent(.linkCreated, subject: "abc", actorKeyID: nil, actorKeyName: nil, requestID: nil)
        let text = String(decoding: EventCodec.encode(anonymous), as: UTF8.self)
        #expect(!text.contains("actor_key_id") && !text.contains("request_id"), "\(text)")
    }

    @Test func anEventOutsideItsRangesOrOfAnotherTypeIsUnusable() {
        func reason(_ text: String) -> String? {
            do {
                _ = try EventCodec.decodeAuditEvent(Array(text.utf8))
                return nil
            } catch {
                return error.reason
            }
        }
        let fields =
            #""version":1,"event_id":"00000000-0000-0000-0000-000000000000","occurred_at":"2026-01-01T00:00:00Z""#
        #expect(reason(#"{"type":"audit",\#(fields),"action":"link.created","subject":"abc"}"#) == nil)
        #expect(reason(#"{"type":"audit",\#(fields),"action":"link.created","subject":""}"#) == "malformed")
        #expect(reason(#"{"type":"audit",\#(fields),"action":"link.created","subject":"a\nb"}"#) == "malformed")
        #expect(reason(#"{"type":"audit",\#(fields),"action":"link.stolen","subject":"abc"}"#) == "malformed")
        #expect(reason(#"{"type":"link.created",\#(fields),"code":"abc"}"#) == "unknown_type")
    }
}

/// The relay learns the partitions of every topic the outbox holds rows for before it says
/// ready: a row for a topic it did not know waited a second for librdkafka's metadata, and held
/// the rest of its batch (the next link) back with it.
@Suite struct OutboxRowTopicsTests {
    @Test func everyKindOfRowIsForATopicTheRelayPrepares() {
        let rows = [
            OutboxRow(LinkEvent.created(LinkAddress(code: "abc"), url: "https://e.com/", expiresAt: nil)),
            OutboxRow(
                DomainEvent.updated(
                    "go.example", revision: 1, rootURL: nil, notFoundURL: nil, expiredURL: nil)),
            OutboxRow(AuditEvent(.linkCreated, subject: "abc", actorKeyID: nil, actorKeyName: nil, requestID: nil)),
            OutboxRow(LinkMilestoneEvent(LinkAddress(code: "abc"), milestone: 100, clicks: 100)),
        ]
        #expect(Set(rows.map(\.topic)) == Set(OutboxRow.topics))
    }
}
