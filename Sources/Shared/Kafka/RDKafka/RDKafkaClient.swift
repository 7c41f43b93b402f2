import CRDKafka
import Logging
import NIOConcurrencyHelpers

/// Owns one librdkafka handle (`rd_kafka_t`) and the callbacks it calls back into.
///
/// `@unchecked Sendable`: librdkafka handles are thread-safe; `destroy()` is idempotent and
/// guarded by a lock, and owners stop using the handle before they destroy it.
package final class RDKafkaClient: @unchecked Sendable {
    /// Whether the handle produces or consumes.
    package enum Kind {
        case producer
        case consumer
    }

    /// The C handle; valid until ``destroy()``.
    package let handle: OpaquePointer
    private let callbacks: Unmanaged<RDKafkaCallbacks>
    private let destroyed = NIOLockedValueBox(false)
    /// Topic handles (`rd_kafka_topic_t`) of the topics named at init, read without a lock. A
    /// message sent by topic name makes librdkafka look the name up under the client's write
    /// lock, which its own threads take for reading all the time: every event loop publishing
    /// a visit waited on it. Sends go by handle instead (``topicHandle(_:)``).
    private let namedTopics: [String: OpaquePointer]
    /// Topic handles made on first use, for topics not named at init; kept until ``destroy()``.
    private let laterTopics = NIOLockedValueBox<[String: OpaquePointer]>([:])

    /// Creates a handle from librdkafka `settings` (keys as in librdkafka's CONFIGURATION.md),
    /// with the handles of `topics` to send to. With `deliveryReports`, each message's
    /// `msg_opaque` must be a retained ``KafkaDelivery``.
    package init(
        kind: Kind, settings: [String: String], logger: Logger, deliveryReports: Bool = false, topics: [String] = []
    ) throws(KafkaError) {
        let conf = rd_kafka_conf_new()!
        var errorText = CErrorBuffer()
        for (key, value) in settings.sorted(by: { $0.key < $1.key }) {
            let result = rd_kafka_conf_set(conf, key, value, &errorText.bytes, errorText.bytes.count)
            guard result == RD_KAFKA_CONF_OK else {
                rd_kafka_conf_destroy(conf)
                throw .configuration("Kafka setting \(key)=\(value): \(errorText.text)")
            }
        }
        let callbacks = Unmanaged.passRetained(RDKafkaCallbacks(logger: logger))
        rd_kafka_conf_set_opaque(conf, callbacks.toOpaque())
        rd_kafka_conf_set_log_cb(conf) { handle, level, facility, text in
            guard let handle, let opaque = rd_kafka_opaque(handle) else { return }
            let callbacks = Unmanaged<RDKafkaCallbacks>.fromOpaque(opaque).takeUnretainedValue()
            callbacks.log(
                level: level, facility: facility.map { String(cString: $0) } ?? "",
                text: text.map { String(cString: $0) } ?? "")
        }
        rd_kafka_conf_set_error_cb(conf) { handle, code, reason, opaque in
            guard let opaque else { return }
            let callbacks = Unmanaged<RDKafkaCallbacks>.fromOpaque(opaque).takeUnretainedValue()
            var fatal: String?
            if code == RD_KAFKA_RESP_ERR__FATAL.rawValue, let handle {
                var text = CErrorBuffer()
                let underlying = rd_kafka_fatal_error(handle, &text.bytes, text.bytes.count)
                fatal = "\(text.text) (\(String(cString: rd_kafka_err2name(underlying))))"
            }
            callbacks.error(
                code: rd_kafka_resp_err_t(rawValue: code),
                reason: reason.map { String(cString: $0) } ?? "", fatal: fatal)
        }
        if deliveryReports {
            rd_kafka_conf_set_dr_msg_cb(conf) { _, message, _ in
                guard let message else { return }
                let error = message.pointee.err
                KafkaMetrics.delivered(
                    topic: String(cString: rd_kafka_topic_name(message.pointee.rkt)),
                    succeeded: error == RD_KAFKA_RESP_ERR_NO_ERROR)
                // A message sent without a ticket: counted, and nobody waits for it.
                guard let ticket = message.pointee._private else { return }
                let delivery = Unmanaged<KafkaDelivery>.fromOpaque(ticket).takeRetainedValue()
                if error == RD_KAFKA_RESP_ERR_NO_ERROR {
                    delivery.complete(
                        .success(
                            KafkaDeliveryReport(
                                partition: message.pointee.partition, offset: message.pointee.offset)))
                } else {
                    delivery.complete(.failure(KafkaError(error, context: "delivery failed")))
                }
            }
        }
        let type = kind == .producer ? RD_KAFKA_PRODUCER : RD_KAFKA_CONSUMER
        guard let handle = rd_kafka_new(type, conf, &errorText.bytes, errorText.bytes.count) else {
            rd_kafka_conf_destroy(conf)
            callbacks.release()
            throw .configuration("cannot create Kafka client: \(errorText.text)")
        }
        // librdkafka warns, while it creates the handle, about settings it will ignore (a
        // producer setting on a consumer): a setting nobody reads fails.
        let ignored = callbacks.takeUnretainedValue().configurationWarnings.withLockedValue { $0 }
        guard ignored.isEmpty else {
            rd_kafka_destroy(handle)
            callbacks.release()
            throw .configuration("Kafka settings: \(ignored.joined(separator: "; "))")
        }
        // A consumer serves its callbacks from the consumer queue, which its poll reads.
        if kind == .consumer { rd_kafka_poll_set_consumer(handle) }
        var namedTopics: [String: OpaquePointer] = [:]
        for topic in topics where namedTopics[topic] == nil {
            guard let topicHandle = rd_kafka_topic_new(handle, topic, nil) else {
                let error = KafkaError(rd_kafka_last_error(), context: "topic \(topic)")
                namedTopics.values.forEach(rd_kafka_topic_destroy)
                rd_kafka_destroy(handle)
                callbacks.release()
                throw error
            }
            namedTopics[topic] = topicHandle
        }
        self.handle = handle
        self.callbacks = callbacks
        self.namedTopics = namedTopics
    }

    /// The handle of `topic`: one named at init without a lock, any other made on first use.
    func topicHandle(_ topic: String) throws(KafkaError) -> OpaquePointer {
        if let named = namedTopics[topic] { return named }
        let made: OpaquePointer? = laterTopics.withLockedValue { later in
            if let kept = later[topic] { return kept }
            let made = rd_kafka_topic_new(handle, topic, nil)
            later[topic] = made
            return made
        }
        guard let made else { throw KafkaError(rd_kafka_last_error(), context: "topic \(topic)") }
        return made
    }

    /// The fatal error that made this client unusable, if any (nil once destroyed). An
    /// idempotent producer hits one when it can no longer guarantee order or no-duplicates;
    /// only a new client (a restarted process) recovers.
    var fatalError: KafkaError? {
        destroyed.withLockedValue { destroyed in
            guard !destroyed else { return nil }
            var text = CErrorBuffer()
            let code = rd_kafka_fatal_error(handle, &text.bytes, text.bytes.count)
            guard code != RD_KAFKA_RESP_ERR_NO_ERROR else { return nil }
            return KafkaError(code: code.rawValue, message: text.text, isFatal: true)
        }
    }

    /// Destroys the handle once; later calls do nothing.
    package func destroy() {
        guard markDestroyed() else { return }
        // An application's topic handles go before the client (librdkafka's order).
        namedTopics.values.forEach(rd_kafka_topic_destroy)
        laterTopics.withLockedValue { $0.values.forEach(rd_kafka_topic_destroy) }
        rd_kafka_destroy(handle)
        callbacks.release()
    }

    /// Leaves the handle to the process's exit, never destroying it: for a consumer whose close
    /// did not finish (``closeConsumer(within:while:)``). librdkafka's destroy then waits for
    /// the same broker, with or without `RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE` (seen with
    /// librdkafka 2.0: its main thread never ends). Its threads may still call back, so the
    /// callbacks stay too.
    func abandon() { _ = markDestroyed() }

    /// Marks the handle destroyed; whether it was not before.
    private func markDestroyed() -> Bool {
        destroyed.withLockedValue { destroyed in
            defer { destroyed = true }
            return !destroyed
        }
    }

    deinit { destroy() }
}

/// What librdkafka's callbacks reach through the handle's opaque pointer.
private final class RDKafkaCallbacks: Sendable {
    let logger: Logger
    /// The settings librdkafka said it will ignore while creating the handle (`CONFWARN`).
    let configurationWarnings = NIOLockedValueBox<[String]>([])

    init(logger: Logger) { self.logger = logger }

    func log(level: Int32, facility: String, text: String) {
        if facility == "CONFWARN", text.contains("will be ignored") {
            configurationWarnings.withLockedValue { $0.append(text) }
        }
        // syslog levels: 0-3 error, 4 warning, 5-6 info, 7 debug.
        let mapped: Logger.Level =
            switch level {
            case ...3: .error
            case 4: .warning
            case 5...6: .info
            default: .debug
            }
        logger.log(level: mapped, "librdkafka: \(text)", metadata: ["kafka.facility": "\(facility)"])
    }

    func error(code: rd_kafka_resp_err_t, reason: String, fatal: String?) {
        if let fatal {
            logger.critical(
                "Kafka client hit a fatal error and cannot go on; /health/live answers 503 so that a supervisor restarts the service",
                metadata: ["kafka.error": "\(reason)", "kafka.fatal_error": "\(fatal)"])
            return
        }
        logger.warning(
            "Kafka client error", metadata: ["kafka.error": "\(reason)", "kafka.error_code": "\(code.rawValue)"])
    }
}
