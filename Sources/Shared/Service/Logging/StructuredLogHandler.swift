import Foundation
import Logging

/// A log handler writing one `logfmt` line per event (`time level label message key=value …`)
/// to a ``LogSink``, so that the terminal and the log file receive the same structured lines.
public struct StructuredLogHandler: LogHandler {
    /// The logger's label, e.g. `master`.
    public let label: String
    public var logLevel: Logger.Level
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?
    private let sink: LogSink

    public init(label: String, sink: LogSink, logLevel: Logger.Level) {
        self.label = label
        self.sink = sink
        self.logLevel = logLevel
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var merged = metadata
        if let provided = metadataProvider?.get() { merged.merge(provided) { _, new in new } }
        if let extra = event.metadata { merged.merge(extra) { _, new in new } }
        sink.write(
            line: Self.format(
                time: Date(), level: event.level, label: label, message: event.message.description, metadata: merged
            ))
    }

    /// Formats one line; keys are sorted so that lines are stable and easy to grep.
    static func format(
        time: Date, level: Logger.Level, label: String, message: String, metadata: Logger.Metadata
    ) -> String {
        var line = timeStyle.format(time)
        line += " \(level.rawValue.uppercased()) \(label): \(message)"
        for key in metadata.keys.sorted() {
            line += " \(key)=\(quoted(metadata[key]!.description))"
        }
        return line
    }

    private static let timeStyle = Date.ISO8601FormatStyle(includingFractionalSeconds: true)

    private static func quoted(_ value: String) -> String {
        let needsQuotes = value.isEmpty || value.contains { $0 == " " || $0 == "=" || $0 == "\"" || $0.isNewline }
        guard needsQuotes else { return value }
        let escaped = value.replacingOccurrences(of: "\\", with: "\\\\")
            .replacingOccurrences(of: "\"", with: "\\\"")
            .replacingOccurrences(of: "\n", with: "\\n")
        return "\"\(escaped)\""
    }
}
