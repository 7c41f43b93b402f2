import AsyncHTTPClient
import Logging
import ServiceLifecycle
import SharedConfiguration
import SharedEvents
import SharedKafka
import SharedOutbound
import SharedResilience
import SharedService

/// The notifier's parts, composed in one place from a ``Configuration``: `main` and the tests
/// build it the same way. The webhook client, the dead-letter producer, the consumer of link
/// events and milestones, and the health server.
struct NotifierApplication {
    /// What the notifier needs to know.
    struct Configuration: Sendable {
        /// Prefix of topics and its group.
        var namespace: Namespace
        /// Kafka bootstrap servers.
        var kafkaBrokers: String
        /// Settings of its clients: the `notifier` consumer and `dead-letters`.
        var clients: KafkaClientSettings
        /// Receivers, secret and retries of the webhooks.
        var webhooks: WebhookSettings
        /// Where and how the health server listens.
        var http: HTTPServerSettings
    }

    /// Everything to run, in start order; a `ServiceGroup` stops them in reverse: the health
    /// server first, then the consumer, the dead-letter producer's flush and last the webhook
    /// client.
    let services: [any Service]

    init(configuration: Configuration, logger: Logger) throws {
        let namespace = configuration.namespace
        let kafka = CircuitBreaker.kafka(logger: logger)
        let deadLetters = try DeadLetterQueue(
            bootstrapServers: configuration.kafkaBrokers, clients: configuration.clients, breaker: kafka,
            namespace: namespace, consumerGroup: namespace.notifierGroup, logger: logger)
        let httpClient = HTTPClient(eventLoopGroupProvider: .singleton, configuration: PinnedHTTPClient.configuration())
        let webhooks = WebhookDispatcher(settings: configuration.webhooks, client: httpClient, logger: logger)
        var consumerSettings = KafkaConsumerSettings(
            bootstrapServers: configuration.kafkaBrokers, groupID: namespace.notifierGroup,
            assignment: .subscribe(topics: [namespace.linksTopic, namespace.milestonesTopic]),
            clientSettings: configuration.clients[.notifier])
        // One event per poll: its deliveries end within 100 s (10 attempts of at most 5 s answer and
        // 5 s backoff), so the consumer polls again well within max.poll.interval.ms (300 s) and
        // is never evicted from its group while slow receivers are being retried. Without
        // receivers an event costs next to nothing, and a poll takes the default batch: a poll
        // per event would cost CPU on every created link.
        if !configuration.webhooks.urls.isEmpty { consumerSettings.maxBatch = 1 }
        let consumer = try KafkaConsumer(settings: consumerSettings, logger: logger) { message in
            if message.topic == namespace.milestonesTopic {
                guard let event = try await deadLetters.decode(message, with: EventCodec.decodeLinkMilestoneEvent)
                else { return }
                NotificationLog.log(milestone: event, from: message, logger: logger)
                _ = try await webhooks.deliver(
                    type: event.type.rawValue, eventID: "\(event.eventID)", body: message.value)
            } else {
                // A domain's event tells replicas how to serve it; receivers hear of links only.
                guard !DomainEvent.isDomainKey(message.key) else { return }
                guard let event = try await deadLetters.decode(message, with: EventCodec.decodeLinkEvent) else {
                    return
                }
                NotificationLog.log(event, from: message, logger: logger)
                // A backfill re-announces state, not a change: receivers heard of it when it happened.
                guard event.reannounced != true else { return }
                // A protected link's password hash stays inside: receivers get the event without it.
                let body = event.passwordHash == nil ? message.value : EventCodec.encode(event.forReceivers)
                _ = try await webhooks.deliver(type: event.type.rawValue, eventID: "\(event.eventID)", body: body)
            }
        }
        let health = HealthServer.build(
            settings: configuration.http, breakers: [kafka],
            liveness: { [deadLetters.producer.fatalProblem, consumer.fatalProblem].compactMap { $0 } },
            logger: logger)
        self.services = [
            HTTPClientLifetime(client: httpClient, webhooks: webhooks), deadLetters.producer, consumer, health,
        ]
    }
}

/// Keeps the webhook clients open while the service group runs and shuts them down when the
/// group stops (it is listed first, so it stops last).
struct HTTPClientLifetime: Service {
    let client: HTTPClient
    let webhooks: WebhookDispatcher

    func run() async throws {
        try? await gracefulShutdown()
        await webhooks.shutdownPinnedClients()
        try await client.shutdown()
    }
}
