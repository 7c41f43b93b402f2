import Foundation
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

    /// The integer value of `name`, or `fallback` when it is unset, empty or not a number.
    public static func int(_ name: String, _ fallback: Int) -> Int {
        optionalString(name).flatMap(Int.init) ?? fallback
    }

    /// The floating-point value of `name`, or `fallback` when it is unset, empty or not a number.
    public static func double(_ name: String, _ fallback: Double) -> Double {
        optionalString(name).flatMap(Double.init) ?? fallback
    }

    /// Whether `name` says `true`, `yes`, `on` or `1` (any case); `fallback` when it is unset or empty.
    public static func bool(_ name: String, _ fallback: Bool) -> Bool {
        optionalString(name).map { ["true", "yes", "on", "1"].contains($0.lowercased()) } ?? fallback
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
