import CRDKafka
import Hummingbird
import HummingbirdTesting
import Logging
import SharedService
import TestSupport
import Testing
@testable import SharedKafka

/// A Kafka client that hit a fatal error can never work again: the service says so on
/// `/health/live`, so that its supervisor restarts it, instead of looking alive while it
/// cannot publish.
@Suite struct FatalKafkaErrorTests {
    @Test func aFatalProducerErrorMakesTheServiceAnswerNotLive() async throws {
        let producer = try KafkaProducer(
            settings: .init(
                bootstrapServers: try TestStack.kafkaBrokers,
                clientSettings: try TestStack.kafkaClients[.relay]),
            logger: TestStack.logger)
        let router = ServiceRouter.make(
            breakers: [], requestLogLevel: .debug, liveness: { [producer.fatalProblem].compactMap { $0 } })
        let app = Application(router: router, logger: TestStack.logger)
        try await withRunningServices([producer]) {
            try await app.test(.router) { http in
                #expect(try await http.execute(uri: "/health/live", method: .get).status == .ok)
                // librdkafka's own hook for fabricating the fatal state of an idempotent producer.
                #expect(
                    rd_kafka_test_fatal_error(
                        producer.client.handle, RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER, "fenced in a test")
                        == RD_KAFKA_RESP_ERR_NO_ERROR)
                let live = try await http.execute(uri: "/health/live", method: .get)
                #expect(live.status == .serviceUnavailable)
                #expect(String(buffer: live.body).contains("fatal error"), "\(String(buffer: live.body))")
                #expect(try await http.execute(uri: "/health/ready", method: .get).status == .serviceUnavailable)
            }
        }
    }
}
