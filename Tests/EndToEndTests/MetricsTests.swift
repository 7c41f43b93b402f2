import Foundation
import TestSupport
import Testing

/// `/metrics` on every service of a running stack, after known traffic.
@Suite struct MetricsTests {
    @Test func everyServiceExportsItsGoldenSignalsAndPipelineFigures() async throws {
        let namespace = try await TestStack.makeNamespace()
        let deployment = try TestDeployment(namespace: namespace)
        let master = try deployment.master()
        let outbox = try deployment.outbox()
        let notifier = try deployment.notifier()
        let replica = try deployment.replica("a", redisPort: try TestStack.redisPorts[0])
        for service in [master, outbox, notifier, replica] { try await service.waitUntilHealthy() }
        let links = "\(namespace.linksTopic)"

        var codes: [String] = []
        for index in 0..<5 {
            let reply = try await TestHTTP.post(
                "\(master.url)/create", body: #"{"url":"https://example.com/metrics/\#(index)"}"#)
            try #require(reply.status == 201)
            codes.append(try #require(reply.json["code"] as? String))
        }
        // Wait through the replica's own figures, so that no redirect is made before the links are there.
        let applied = try await eventually(timeout: .seconds(20)) {
            try await PrometheusScrape.fetch("\(replica.url)/metrics").value(
                "link_events_total", ["outcome": "applied"])
                == 5
        }
        try #require(applied, "the replica did not apply the 5 links")
        for index in 0..<7 { #expect(try await TestHTTP.get("\(replica.url)/\(codes[index % 5])").status == 302) }
        for _ in 0..<2 { #expect(try await TestHTTP.get("\(replica.url)/unknown1").status == 404) }

        let replicaFigures = try await PrometheusScrape.fetch("\(replica.url)/metrics")
        #expect(replicaFigures.value("redirects_total", ["outcome": "302"]) == 7)
        #expect(replicaFigures.value("redirects_total", ["outcome": "404"]) == 2)
        #expect(replicaFigures.value("clicks_counted_total") == 7)
        #expect(
            replicaFigures.value(
                "hb_requests", ["http_route": "/{code}", "http_response_status_code": "302"]) == 7)
        #expect(
            replicaFigures.value(
                "http_server_request_duration_count", ["http_route": "/{code}", "http_response_status_code": "302"])
                == 7)
        #expect(replicaFigures.value("circuit_breaker_state", ["dependency": "redis"]) == 0)
        let replicaLag = replicaFigures.samples.filter {
            $0.name == "kafka_consumer_lag" && $0.labels["group"] == namespace.replicaGroup(replicaID: "a")
        }
        #expect(replicaLag.count == 3, "one lag per partition of the links topic")
        #expect(replicaLag.allSatisfy { $0.value == 0 })
        #expect(replicaFigures.value("process_resident_memory_bytes") ?? 0 > 1_000_000)
        #expect(replicaFigures.value("event_loop_lag_seconds") != nil)
        #expect(replicaFigures.value("redis_pipeline_depth_count") ?? 0 >= 9)
        // The replica's share of each link's way to its first redirect, one sample per event.
        #expect(replicaFigures.value("link_event_lag_seconds_count") == 5)
        #expect((replicaFigures.value("link_event_lag_seconds_sum") ?? -1) > 0)

        let masterFigures = try await PrometheusScrape.fetch("\(master.url)/metrics")
        #expect(
            masterFigures.value(
                "hb_requests",
                ["http_route": "/create", "http_request_method": "POST", "http_response_status_code": "201"]) == 5)
        #expect(masterFigures.value("circuit_breaker_state", ["dependency": "postgres"]) == 0)

        // The clicks reach the master as count events (report interval 1 s in tests).
        let countsArrived = try await eventually(timeout: .seconds(20)) {
            let counts = try await PrometheusScrape.fetch("\(master.url)/metrics")
                .value(
                    "kafka_messages_consumed_total", ["topic": namespace.countsTopic, "group": namespace.masterGroup])
            return (counts ?? 0) >= 5
        }
        #expect(countsArrived)
        let sent = try await PrometheusScrape.fetch("\(replica.url)/metrics")
            .value("kafka_messages_produced_total", ["topic": namespace.countsTopic])
        #expect((sent ?? 0) >= 5)

        let outboxSettled = try await eventually(timeout: .seconds(20)) {
            let figures = try await PrometheusScrape.fetch("\(outbox.url)/metrics")
            return figures.value("outbox_pending_rows") == 0 && figures.value("outbox_oldest_pending_age_seconds") == 0
        }
        #expect(outboxSettled)
        let outboxFigures = try await PrometheusScrape.fetch("\(outbox.url)/metrics")
        // Each create is two rows: its link event and its audit event.
        #expect(outboxFigures.value("outbox_rows_published_total") == 10)
        #expect(outboxFigures.value("outbox_publish_lag_seconds_count") == 10)
        #expect((outboxFigures.value("outbox_publish_lag_seconds_sum") ?? -1) > 0)
        #expect(outboxFigures.value("kafka_messages_produced_total", ["topic": links]) == 5)
        #expect(outboxFigures.value("kafka_delivery_errors_total") == nil)

        let notified = try await eventually(timeout: .seconds(20)) {
            try await PrometheusScrape.fetch("\(notifier.url)/metrics")
                .value("kafka_messages_consumed_total", ["topic": links, "group": namespace.notifierGroup]) == 5
        }
        #expect(notified)
        let notifierLag = try await PrometheusScrape.fetch("\(notifier.url)/metrics")
            .value("kafka_consumer_lag", ["group": namespace.notifierGroup])
        #expect(notifierLag == 0)

        for service in [replica, notifier, outbox, master] { #expect(await service.process.stop() == 0) }
    }
}
