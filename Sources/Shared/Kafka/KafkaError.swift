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

    public var description: String { "KafkaError(\(code)): \(message) [\(location)]" }
}
