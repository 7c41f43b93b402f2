import SharedConfiguration
import TestSupport
import Testing
@testable import SharedKafka

/// Kafka clients stopped while their broker is gone: a producer's flush and a consumer's leaving
/// its group wait a bounded time on a graceful stop, and a cancellation (the service group's
/// shutdown time is up) ends them at once. Clients that held on made ServiceLifecycle end the
/// outbox relay and the replicas with a crash when they were stopped while the broker was down.
@Suite struct KafkaShutdownTests {
    private actor Tally {
        var value = 0
        func add() { value += 1 }
    }

    @Test func aCancelledProducerStopsWithoutWaitingForAGoneBroker() async throws {
        var settings = KafkaProducerSettings(
            bootstrapServers: "127.0.0.1:\(try TestStack.freePort())",
            clientSettings: try TestStack.kafkaClients[.relay])
        settings.flushTimeoutMilliseconds = 120_000
        let producer = try KafkaProducer(settings: settings, logger: TestStack.logger)
        let running = Task { try await producer.run() }
        let delivery = try producer.enqueue(topic: "nowhere", key: "k", value: Array("v".utf8))

        let started = ContinuousClock.now
        running.cancel()
        _ = await running.result
        // Within the 5 s ServiceRunner allows a cancelled service (the flush alone would take the
        // message timeout, 30 s, with the old code).
        #expect(ContinuousClock.now - started < .seconds(5))
        await #expect(throws: (any Error).self) { try await delivery.value() }
    }

    /// A producer's task cancelled before its poll loop started (a service group stopped at
    /// once) still fails what was queued and destroys the client: the delivery must not wait
    /// for good.
    @Test func aProducerCancelledBeforeItRunsFailsWhatWasQueued() async throws {
        let settings = KafkaProducerSettings(
            bootstrapServers: "127.0.0.1:\(try TestStack.freePort())",
            clientSettings: try TestStack.kafkaClients[.relay])
        let producer = try KafkaProducer(settings: settings, logger: TestStack.logger)
        let delivery = try producer.enqueue(topic: "nowhere", key: "k", value: Array("v".utf8))
        let running = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            try await producer.run()
        }
        _ = await running.result
        let failed = await eventually(timeout: .seconds(30)) {
            guard case .failure = delivery.result else { return false }
            return true
        }
        #expect(failed)
    }

    @Test func aConsumerWhoseBrokerIsGoneStopsWithinItsCloseTimeout() async throws {
        let namespace = try await TestStack.makeNamespace()
        let broker = try await PrivateBroker(namespace: namespace)
        var settings = KafkaConsumerSettings(
            bootstrapServers: broker.bootstrapServers, groupID: namespace.notifierGroup,
            assignment: .subscribe(topics: [namespace.linksTopic]),
            clientSettings: try TestStack.kafkaClients[.notifier])
        settings.closeTimeout = .seconds(3)
        let handled = Tally()
        let consumer = try KafkaConsumer(
            settings: settings, logger: TestStack.logger, handler: { _ in await handled.add() })
        let running = Task { try await consumer.run() }
        // An offset stored to commit: the close then has something to say to a broker that is gone.
        let producer = try KafkaProducer(
            settings: .init(
                bootstrapServers: broker.bootstrapServers, clientSettings: try TestStack.kafkaClients[.relay]),
            logger: TestStack.logger)
        try await withRunningServices([producer]) {
            try await producer.send(topic: namespace.linksTopic, key: "k", value: Array("v".utf8))
        }
        #expect(await eventually(timeout: .seconds(30)) { await handled.value == 1 })
        broker.crash()

        let started = ContinuousClock.now
        running.cancel()
        _ = await running.result
        // Within the 5 s ServiceRunner allows a cancelled service (librdkafka's own close took
        // 14 s here, trying to commit).
        #expect(ContinuousClock.now - started < .seconds(5))
        await broker.remove()
    }
}
