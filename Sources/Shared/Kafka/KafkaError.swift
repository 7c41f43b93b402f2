import CRDKafka

/// An error from Kafka: librdkafka's code and text, and whether the client is done for.
public struct KafkaError: Error, CustomStringConvertible, Sendable {
    /// librdkafka's `rd_kafka_resp_err_t` value (negative values are client-side errors).
    public let code: Int32
    /// librdkafka's description, or ours for errors raised by the wrapper.
    public let message: String
    /// Whether the client is unusable and must be recreated.
    public let isFatal: Bool
    /// Where the error was created, for logs.
    public let location: String

    init(
        code: Int32, message: String, isFatal: Bool = false,
        file: String = #fileID, line: Int = #line
    ) {
        self.code = code
        self.message = message
        self.isFatal = isFatal
        self.location = "\(file):\(line)"
    }

    init(_ error: rd_kafka_resp_err_t, context: String, file: String = #fileID, line: Int = #line) {
        self.init(
            code: error.rawValue, message: "\(context): \(String(cString: rd_kafka_err2str(error)))",
            isFatal: error == RD_KAFKA_RESP_ERR__FATAL, file: file, line: line
        )
    }

    /// The client was closed (shutdown) before the operation could complete.
    static func closed(_ context: String, file: String = #fileID, line: Int = #line) -> KafkaError {
        KafkaError(
            code: RD_KAFKA_RESP_ERR__DESTROY.rawValue, message: "\(context): client is closed",
            file: file, line: line)
    }

    /// A setting that librdkafka rejected.
    static func configuration(_ message: String, file: String = #fileID, line: Int = #line) -> KafkaError {
        KafkaError(code: RD_KAFKA_RESP_ERR__INVALID_ARG.rawValue, message: message, file: file, line: line)
    }

    public var description: String { "KafkaError(\(code)): \(message) [\(location)]" }
}

extension KafkaError {
    /// Whether the broker does not offer the request at all (the dev broker has no ListGroups).
    public var isUnsupportedByBroker: Bool {
        code == RD_KAFKA_RESP_ERR__UNSUPPORTED_FEATURE.rawValue
            || code == RD_KAFKA_RESP_ERR_UNSUPPORTED_VERSION.rawValue
            || code == RD_KAFKA_RESP_ERR_INVALID_REQUEST.rawValue
    }
}
