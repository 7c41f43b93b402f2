import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOConcurrencyHelpers
import NIOCore
import SharedEvents
import SharedKafka
import TestSupport
import Testing
@testable import Master
@testable import Outbox

/// Every change made through the master is one audit event on `<ns>-audit`, with the key that
/// made it and the request's id, written with the change and relayed like every event; a
/// refused request writes none.
@Suite struct AuditTrailTests {
    @Test func everyChangeIsOneAuditEventWithItsKeyAndRequestAndARefusalIsNone() async throws {
        let namespace = try await TestStack.makeNamespace()
        let master = try MasterApplication(configuration: .test(namespace), logger: TestStack.logger)
        let outbox = try OutboxApplication(
            configuration: .test(namespace, relay: .init(pollInterval: .milliseconds(200), batchSize: 100)),
            logger: TestStack.logger)
        let trail = NIOLockedValueBox<[AuditEvent]>([])
        let consumer = try KafkaConsumer(
            settings: .init(
                bootstrapServers: try TestStack.kafkaBrokers, groupID: "\(namespace.name)-audit-check",
                assignment: .allPartitions(topic: namespace.topic(.audit)) { _ in [:] },
                clientSettings: try TestStack.kafkaClients[.replicaLinks]),
            logger: TestStack.logger
        ) { message in
            let event = try EventCodec.decodeAuditEvent(message.value)
            #expect(message.keyString == event.subject)
            trail.withLockedValue { $0.append(event) }
        }
        try await withRunningServices(master.backgroundServices + outbox.services + [consumer]) {
            let store = APIKeyStore(
                client: master.postgres, breaker: TestStack.postgresBreaker(), logger: TestStack.logger)
            let adminKey = try await store.create(name: "admin", role: .admin)
            let admin = adminKey.secret
            let expected = try await master.http.test(.router) { http in
                // What the requests below change, in order, with the request that changed it.
                var expected: [(AuditEvent.Action, subject: String, requestID: String?)] = [
                    (.keyCreated, adminKey.id, nil)
                ]
                let client = KeyedClient(http: http)
                func call(_ method: HTTPRequest.Method, _ uri: String, _ secret: String, _ body: String = "")
                    async throws -> KeyedClient.Answer
                { try await client.call(method, uri, secret, body) }

                let created = try await call(.post, "/create", admin, #"{"url":"https://example.com/audit"}"#)
                let code = try #require(created.json["code"] as? String)
                expected.append((.linkCreated, code, created.requestID))
                let edited = try await call(.patch, "/api/links/\(code)", admin, #"{"title":"audited"}"#)
                expected.append((.linkUpdated, code, edited.requestID))
                let bulk = try await call(
                    .post, "/api/links/bulk", admin,
                    #"{"links":[{"url":"https://example.com/b1"},{"url":"https://example.com/b2"}]}"#)
                for item in bulk.json["results"] as? [[String: Any]] ?? [] {
                    expected.append((.linkCreated, try #require(item["code"] as? String), bulk.requestID))
                }
                let deleted = try await call(.delete, "/api/links/\(code)", admin)
                #expect(deleted.status == .noContent)
                expected.append((.linkDeleted, code, deleted.requestID))

                let key = try await call(.post, "/api/keys", admin, #"{"name":"reader","role":"viewer"}"#)
                let id = try #require(key.json["id"] as? String)
                let reader = try #require(key.json["secret"] as? String)
                expected.append((.keyCreated, id, key.requestID))

                // Refused requests change nothing and leave no trace.
                #expect(
                    try await call(.post, "/create", reader, #"{"url":"https://example.com/x"}"#).status == .forbidden)
                #expect(
                    try await call(.post, "/create", admin, #"{"url":"ftp://example.com/x"}"#).status == .badRequest)
                #expect(try await call(.delete, "/api/links/\(code)", reader).status == .forbidden)
                #expect(try await call(.patch, "/api/links/nosuch1", admin, #"{"title":"x"}"#).status == .notFound)
                #expect(try await call(.post, "/api/keys", reader, #"{"name":"sneaky"}"#).status == .forbidden)

                let renamed = try await call(.patch, "/api/keys/\(id)", admin, #"{"name":"reader 2"}"#)
                expected.append((.keyUpdated, id, renamed.requestID))
                let revoked = try await call(.delete, "/api/keys/\(id)", admin)
                expected.append((.keyRevoked, id, revoked.requestID))

                let added = try await call(.post, "/api/domains", admin, #"{"name":"go.audit.test"}"#)
                #expect(added.status == .created)
                expected.append((.domainAdded, "go.audit.test", added.requestID))
                let changed = try await call(
                    .patch, "/api/domains/go.audit.test", admin, #"{"root_url":"https://example.com/"}"#)
                expected.append((.domainUpdated, "go.audit.test", changed.requestID))
                let removed = try await call(.delete, "/api/domains/go.audit.test", admin)
                expected.append((.domainRemoved, "go.audit.test", removed.requestID))
                return expected
            }
            #expect(await eventually(timeout: .seconds(20)) { trail.withLockedValue { $0.count } >= expected.count })
            // Nothing more arrives: no event for a refusal, none twice.
            try await Task.sleep(for: .seconds(1))
            let events = trail.withLockedValue { $0 }
            #expect(events.map(\.action) == expected.map(\.0), "\(events.map(\.action))")
            #expect(events.map(\.subject) == expected.map(\.subject))
            #expect(events.map(\.requestID) == expected.map(\.requestID))
            #expect(events.dropFirst().allSatisfy { $0.actorKeyID == adminKey.id && $0.actorKeyName == "admin" })
            #expect(events.first?.actorKeyID == nil, "a key made by a command has no actor")
            #expect(Set(events.map(\.eventID)).count == events.count)

            // The API reads the same trail: whole, by pages, and from a time on.
            try await master.http.test(.router) { http in
                let client = KeyedClient(http: http)
                func page(_ query: String) async throws -> (subjects: [String], next: String?, times: [String]) {
                    let answer = try await client.call(.get, "/api/audit\(query)", admin)
                    #expect(answer.status == .ok, "\(answer.text)")
                    let events = answer.json["events"] as? [[String: Any]] ?? []
                    return (
                        events.compactMap { $0["subject"] as? String }, answer.json["next_cursor"] as? String,
                        events.compactMap { $0["occurred_at"] as? String }
                    )
                }
                let whole = try await page("")
                #expect(whole.subjects == expected.map(\.subject))
                var paged: [String] = []
                var cursor = ""
                for _ in 0..<10 {
                    let next = try await page("?limit=5" + cursor)
                    paged += next.subjects
                    if next.subjects.isEmpty { break }
                    cursor = "&cursor=\(try #require(next.next))"
                }
                #expect(paged == whole.subjects, "pages without gaps or repeats")
                let since = try #require(whole.times.dropFirst(6).first)
                let recent = try await page("?since=\(since)")
                #expect(recent.subjects == Array(whole.subjects.dropFirst(6)), "from \(since)")
                #expect(try await page("?since=2999-01-01T00:00:00Z").subjects.isEmpty)
                for bad in ["?since=yesterday", "?cursor=-1", "?limit=0", "?limit=1001"] {
                    #expect(try await client.call(.get, "/api/audit\(bad)", admin).status == .badRequest, "\(bad)")
                }
            }
        }
    }
}
