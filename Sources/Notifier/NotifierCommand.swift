import ArgumentParser
import AsyncHTTPClient
import Foundation
import Logging
import SharedConfiguration
import SharedEvents
import SharedKafka
import SharedLinks
import SharedResilience
import SharedService

/// The notifier: turns link events and click milestones into notifications: a structured log
/// line each, and a signed JSON POST to every configured webhook.
@main
struct NotifierCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "notifier",
        abstract: "Consume link events and click milestones in its own group; log and post each to the webhooks."
    )

    @OptionGroup var common: CommonOptions
    @OptionGroup var http: HTTPOptions

    /// Webhook receivers, comma separated; none when empty. Default: none.
    /// Environment: `SHORTENER_WEBHOOK_URLS`.
    @Option(help: "Webhook URLs, comma separated (env SHORTENER_WEBHOOK_URLS).")
    var webhookURLs: String = EnvironmentDefaults.string("SHORTENER_WEBHOOK_URLS", "")

    /// The shared secret of the webhooks' HMAC signature; required with webhooks.
    /// Environment: `SHORTENER_WEBHOOK_SECRET`.
    @Option(help: "Secret of the webhooks' HMAC signature (env SHORTENER_WEBHOOK_SECRET).")
    var webhookSecret: String = EnvironmentDefaults.string("SHORTENER_WEBHOOK_SECRET", "")

    /// Tries per notification and webhook. Default: 4. Environment: `SHORTENER_WEBHOOK_ATTEMPTS`.
    @Option(help: "Tries per notification and webhook (env SHORTENER_WEBHOOK_ATTEMPTS).")
    var webhookAttempts: Int = EnvironmentDefaults.int("SHORTENER_WEBHOOK_ATTEMPTS", 4)

    /// Longest wait for a receiver's answer, in seconds; a call that takes longer fails and is
    /// tried again. Default: 5. Environment: `SHORTENER_WEBHOOK_TIMEOUT`.
    @Option(help: "Seconds a webhook receiver may take to answer (env SHORTENER_WEBHOOK_TIMEOUT).")
    var webhookTimeout: Int = EnvironmentDefaults.int("SHORTENER_WEBHOOK_TIMEOUT", 5)

    /// Call receivers on loopback, private and link-local addresses too. Default: false (only
    /// public addresses). Environment: `SHORTENER_WEBHOOK_ALLOW_PRIVATE`.
    @Option(help: "Call webhook receivers on loopback and private addresses (env SHORTENER_WEBHOOK_ALLOW_PRIVATE).")
    var webhookAllowPrivate: Bool = EnvironmentDefaults.bool("SHORTENER_WEBHOOK_ALLOW_PRIVATE", false)

    var urls: [String] {
        webhookURLs.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }

    func validate() throws {
        for url in urls {
            guard let components = URLComponents(string: url), ["http", "https"].contains(components.scheme ?? ""),
                components.host != nil
            else { throw ValidationError("webhook URL '\(LogRedaction.origin(url))' is not an http(s) URL") }
        }
        guard urls.isEmpty || !webhookSecret.isEmpty else {
            throw ValidationError("webhooks need a signing secret: set --webhook-secret or SHORTENER_WEBHOOK_SECRET")
        }
        // Bounded, so that one event's deliveries (at most attempts × (the answer's timeout + 5 s
        // backoff)) end well within the consumer's max.poll.interval.ms (300 s).
        guard (1...10).contains(webhookAttempts) else { throw ValidationError("--webhook-attempts must be 1 to 10") }
        guard (1...60).contains(webhookTimeout) else {
            throw ValidationError("--webhook-timeout must be 1 to 60 seconds")
        }
        guard webhookAttempts * (webhookTimeout + 5) <= 200 else {
            throw ValidationError(
                "--webhook-attempts × (--webhook-timeout + 5 s of backoff) must stay within 200 s, "
                    + "the time one event may hold up the notifier's consumer")
        }
    }

    func run() async throws {
        let logger = try Observability.bootstrap(service: "notifier", options: common)
        let notifier = try NotifierApplication(
            configuration: .init(
                namespace: try common.resolvedNamespace(), kafkaBrokers: common.kafkaBrokers,
                clients: try KafkaClientSettings.load(from: common.topicsDir),
                webhooks: WebhookSettings(
                    urls: urls, secret: webhookSecret, attempts: webhookAttempts,
                    timeout: .seconds(webhookTimeout), allowsPrivateAddresses: webhookAllowPrivate),
                http: try http.resolvedServerSettings(defaultPort: 8091)),
            logger: logger)
        try await ServiceRunner.run(
            notifier.services, shutdownTimeout: .seconds(common.shutdownTimeout), logger: logger)
    }
}

/// One log line per notification (credentials in URLs hidden).
enum NotificationLog {
    static func log(_ event: LinkEvent, from message: KafkaMessage, logger: Logger) {
        // Building the metadata was a seventh of the notifier's work per event: only for a line written.
        guard logger.logLevel <= .info else { return }
        var metadata = common(message, type: event.type.rawValue, id: event.eventID, link: event.address)
        metadata["link.revision"] = "\(event.revision)"
        if event.reannounced == true { metadata["event.reannounced"] = "true" }
        if let url = event.url { metadata["link.url"] = "\(LogRedaction.url(url))" }
        logger.info("Link event", metadata: metadata)
    }

    static func log(milestone event: LinkMilestoneEvent, from message: KafkaMessage, logger: Logger) {
        guard logger.logLevel <= .info else { return }
        var metadata = common(message, type: event.type.rawValue, id: event.eventID, link: event.address)
        metadata["link.milestone"] = "\(event.milestone)"
        metadata["link.clicks"] = "\(event.clicks)"
        logger.info("Click milestone", metadata: metadata)
    }

    /// The message's position and the fields every event has.
    private static func common(_ message: KafkaMessage, type: String, id: UUID, link: LinkAddress) -> Logger.Metadata {
        message.logMetadata.merging(["event.type": "\(type)", "event.id": "\(id)", "link.key": "\(link.key)"]) { $1 }
    }
}
