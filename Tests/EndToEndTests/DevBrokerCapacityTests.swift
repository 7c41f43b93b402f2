import Foundation
import SharedEvents
import SharedKafka
import TestSupport
import Testing
import SharedLinks

/// The dev broker keeps at most 5 MiB per partition and drops older batches without a word.
/// Past that, the broker and every replica that rebuilds from offset zero say so and report
/// themselves not ready: nobody serves a partial set of links as if it were complete.
@Suite struct DevBrokerCapacityTests {
    @Test func aLinksTopicPastTheCapIsReportedByTheBrokerAndRefusedByReplicas() async throws {
        let namespace = try await TestStack.makeNamespace()
        let dataDirectory = NSTemporaryDirectory() + "shortener-capacity-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dataDirectory) }
        let broker = try await PrivateBroker(
            namespace: namespace, dataDirectory: dataDirectory,
            environment: ["SHORTENER_TOPIC_LINKS_PARTITIONS": "1", "SHORTENER_LOG_LEVEL": "error"])
        let producer = try KafkaProducer(
            settings: .init(bootstrapServers: broker.bootstrapServers), logger: TestStack.logger)
        // About 7 MB of link events into the one partition: more than the mock keeps.
        let path = String(repeating: "p", count: 2000)
        try await withRunningServices([producer]) {
            var deliveries: [KafkaDelivery] = []
            for index in 0..<3500 {
                let event = LinkEvent.created(
                    LinkAddress(code: "cap\(index)"), url: "https://example.com/\(path)", expiresAt: nil)
                deliveries.append(
                    try producer.enqueue(
                        topic: namespace.linksTopic, key: Array(event.code.utf8), value: EventCodec.encode(event),
                        headers: []))
            }
            for delivery in deliveries { _ = try await delivery.value() }
        }
        let notReady = try await eventually(timeout: .seconds(15)) {
            let reply = try await TestHTTP.get("\(broker.controlURL)/health/ready")
            return reply.status == 503 && reply.body.contains("\(namespace.linksTopic) partition 0 starts at")
        }
        #expect(notReady, "the broker did not report the lost history:\n\(broker.logTail())")
        #expect(broker.logTail().contains("A compacted topic lost history"))

        let deployment = try TestDeployment(namespace: namespace, kafkaBrokers: broker.bootstrapServers)
        let replica = try deployment.replica("a", redisPort: try TestStack.redisPorts[1])
        try await replica.waitUntilHealthy("live")
        let refused = try await eventually(timeout: .seconds(20)) {
            let reply = try await TestHTTP.get("\(replica.url)/health/ready")
            return reply.status == 503 && reply.body.contains("the links topic lost its history")
        }
        #expect(refused, "the replica passed for complete:\n\(replica.process.logTail())")
        _ = await replica.process.stop()
        await broker.remove()
    }
}
