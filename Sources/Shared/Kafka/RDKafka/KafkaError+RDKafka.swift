import CRDKafka

/// Errors made from librdkafka's codes, and the questions only its codes can answer.
extension KafkaError {
    package init(_ error: rd_kafka_resp_err_t, context: String, file: String = #fileID, line: Int = #line) {
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
    package static func configuration(_ message: String, file: String = #fileID, line: Int = #line) -> KafkaError {
        KafkaError(code: RD_KAFKA_RESP_ERR__INVALID_ARG.rawValue, message: message, file: file, line: line)
    }

    /// Whether the broker does not offer the request at all (the dev broker has no ListGroups).
    public var isUnsupportedByBroker: Bool {
        code == RD_KAFKA_RESP_ERR__UNSUPPORTED_FEATURE.rawValue
            || code == RD_KAFKA_RESP_ERR_UNSUPPORTED_VERSION.rawValue
            || code == RD_KAFKA_RESP_ERR_INVALID_REQUEST.rawValue
    }
}
