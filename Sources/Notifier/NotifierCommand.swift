import ArgumentParser
import Logging
import Shared

/// The notifier: turns link events into notifications (a structured log line for each).
@main
struct NotifierCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "notifier",
        abstract: "Consume link events in its own group and write one notification per event."
    )

    @OptionGroup var common: CommonOptions
    @OptionGroup var http: HTTPOptions

    func run() async throws {
        let logger = try Observability.bootstrap(service: "notifier", options: common)
        let namespace = try common.resolvedNamespace()
        let links = try TopicDefinition.load(.links, from: common.topicsDir)
        let producer = try KafkaProducer(
            settings: KafkaProducerSettings(
                bootstrapServers: common.kafkaBrokers,
                topicSettings: try TopicDefinition.load(.dlq, from: common.topicsDir).producerSettings),
            logger: logger)
        let kafka = CircuitBreaker.kafka(logger: logger)
        let deadLetters = DeadLetterQueue(
            producer: producer, breaker: kafka, namespace: namespace, consumerGroup: namespace.notifierGroup,
            logger: logger)
        let consumer = try KafkaConsumer(
            settings: KafkaConsumerSettings(
                bootstrapServers: common.kafkaBrokers, groupID: namespace.notifierGroup,
                assignment: .subscribe(topics: [namespace.linksTopic]), topicSettings: links.consumerSettings
            ),
            logger: logger
        ) { message in
            if let event = try await deadLetters.decode(message, with: EventCodec.decodeLinkEvent) {
                LinkNotification.log(event, from: message, logger: logger)
            }
        }
        let health = HealthServer.build(
            host: http.host, port: http.resolvedPort(default: 8091), breakers: [kafka], logger: logger)
        try await ServiceRunner.run(
            [producer, consumer, health], shutdownTimeout: .seconds(common.shutdownTimeout), logger: logger)
    }
}

/// One notification per link event: a structured log line (credentials in the URL hidden).
enum LinkNotification {
    static func log(_ event: LinkEvent, from message: KafkaMessage, logger: Logger) {
        var metadata = message.logMetadata
        metadata["event.type"] = "\(event.type.rawValue)"
        metadata["event.id"] = "\(event.eventID)"
        metadata["link.code"] = "\(event.code)"
        metadata["link.revision"] = "\(event.revision)"
        if let url = event.url { metadata["link.url"] = "\(LogRedaction.url(url))" }
        logger.info("Link event", metadata: metadata)
    }
}
