import Foundation
import SharedConfiguration

/// Kafka's `key=value` properties format, as `topics/*.properties` use it: `#` comments and
/// blank lines are ignored, whitespace around keys and values is not part of them.
enum PropertiesFile {
    /// One `key=value` line.
    struct Entry {
        /// Its line number, from 1, for error messages.
        let line: Int
        let key: String
        let value: String
    }

    /// The entries of `text` in order; a line without `=` fails, naming `source` and the line.
    static func entries(_ text: String, source: String) throws(SettingError) -> [Entry] {
        var entries: [Entry] = []
        for (index, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = rawLine.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") { continue }
            guard let equals = line.firstIndex(of: "=") else {
                throw SettingError("\(source):\(index + 1): expected key=value, found '\(line)'")
            }
            entries.append(
                Entry(
                    line: index + 1, key: line[..<equals].trimmingCharacters(in: .whitespaces),
                    value: line[line.index(after: equals)...].trimmingCharacters(in: .whitespaces)))
        }
        return entries
    }

    /// The key an environment variable overrides: what follows `prefix`, lower-cased, with
    /// underscores as dots (`SHORTENER_TOPIC_LINKS_RETENTION_MS` → `retention.ms`).
    static func key(ofVariable name: String, after prefix: String) -> String {
        name.dropFirst(prefix.count).lowercased().replacingOccurrences(of: "_", with: ".")
    }
}
