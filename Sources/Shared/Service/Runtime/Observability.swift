import Logging
import SharedConfiguration

/// Process-wide logging and metrics set-up, done once in each executable's entry point.
public enum Observability {
    /// Sends every logger's lines to the terminal and to `--log-file` (when set) at
    /// `--log-level`, routes metrics to ``MetricsExporter``, and returns the service's own logger.
    public static func bootstrap(service: String, options: CommonOptions) throws -> Logger {
        let sink = try LogSink(filePath: options.logFile)
        let level = try options.resolvedLogLevel()
        LoggingSystem.bootstrap { label in
            StructuredLogHandler(label: label, sink: sink, logLevel: level)
        }
        MetricsExporter.bootstrap()
        OpenAPIDocument.use(path: options.openapiFile)
        var logger = Logger(label: service)
        logger[metadataKey: "namespace"] = "\(options.namespace)"
        return logger
    }
}

extension Logger {
    /// A copy of this logger with one more metadata value.
    public func with(metadata key: String, _ value: Logger.MetadataValue) -> Logger {
        var copy = self
        copy[metadataKey: key] = value
        return copy
    }
}
