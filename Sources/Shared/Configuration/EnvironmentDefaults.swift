import Foundation
import Synchronization
import Logging

/// Reads setting defaults from the process environment, so that every setting can be
/// given as a command-line flag, as an environment variable, or left at its default.
///
/// Precedence: flag, then environment variable, then the built-in default.
public enum EnvironmentDefaults {
    /// The value of `name`, or `fallback` when it is unset or empty.
    public static func string(_ name: String, _ fallback: String) -> String {
        guard let value = ProcessInfo.processInfo.environment[name], !value.isEmpty else { return fallback }
        return value
    }

    /// The value of `name`, or `nil` when it is unset or empty.
    public static func optionalString(_ name: String) -> String? {
        guard let value = ProcessInfo.processInfo.environment[name], !value.isEmpty else { return nil }
        return value
    }

    /// The integer value of `name`, or `fallback` when it is unset or empty. A value that is no
    /// integer is noted (``unreadable``) and gives `fallback` until the command refuses to start.
    public static func int(_ name: String, _ fallback: Int) -> Int {
        read(name, fallback, as: "an integer", Int.init)
    }

    /// The floating-point value of `name`, or `fallback` when it is unset or empty; a value that
    /// is no number is noted as ``int(_:_:)`` notes it.
    public static func double(_ name: String, _ fallback: Double) -> Double {
        read(name, fallback, as: "a number", Double.init)
    }

    /// Whether `name` says `true`, `yes`, `on` or `1` (any case), or not (`false`, `no`, `off`,
    /// `0`); `fallback` when it is unset or empty; anything else is noted as ``int(_:_:)`` notes it.
    public static func bool(_ name: String, _ fallback: Bool) -> Bool {
        read(name, fallback, as: "true or false") { text in
            switch text.lowercased() {
            case "true", "yes", "on", "1": true
            case "false", "no", "off", "0": false
            default: nil
            }
        }
    }

    /// What went wrong with the environment's settings read so far, one line each (empty: none):
    /// every command checks it before it starts (``CommonOptions``), so that a mistyped value is
    /// an error, not a silent default.
    public static var unreadable: [String] { problems.withLock { $0 } }

    private static let problems = Mutex<[String]>([])

    private static func read<Value>(
        _ name: String, _ fallback: Value, as kind: String, _ parse: (String) -> Value?
    ) -> Value {
        guard let text = optionalString(name) else { return fallback }
        guard let value = parse(text.trimmingCharacters(in: .whitespaces)) else {
            // Defaults are read each time a command is made, and it is made more than once.
            let problem = "\(name)='\(text.prefix(100))' is not \(kind)"
            problems.withLock { if !$0.contains(problem) { $0.append(problem) } }
            return fallback
        }
        return value
    }

    /// The log level named by `name`, or `fallback`.
    public static func logLevel(_ name: String, _ fallback: Logger.Level) -> Logger.Level {
        optionalString(name).flatMap { try? Logger.Level(named: $0, for: name) } ?? fallback
    }
}

extension Logger.Level {
    /// The level `text` names (any case), or a ``SettingError`` naming `setting` and the choices:
    /// the one place the project reads log levels.
    public init(named text: String, for setting: String) throws {
        guard let level = Logger.Level(rawValue: text.lowercased()) else {
            throw SettingError(
                "\(setting) '\(text)' is not one of trace, debug, info, notice, warning, error, critical")
        }
        self = level
    }
}
