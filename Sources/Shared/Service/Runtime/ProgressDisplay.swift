import Foundation

/// Shows how far a long job has come on standard error: a bar redrawn in place on a terminal,
/// and a plain line every few seconds otherwise (a pipe, a log file), always with done / total
/// and the rate. The first and the last state are always shown.
public struct ProgressDisplay: Sendable {
    /// What is being done, e.g. `Replay`.
    public let label: String
    /// How many units the job has in all.
    public let total: Int64
    /// What is counted, e.g. `messages`.
    public let unit: String
    private let isTerminal: Bool
    private let lineInterval: Duration
    private let write: @Sendable (String) -> Void
    private let started = ContinuousClock.now
    private var lastShown: ContinuousClock.Instant?

    /// - Parameters:
    ///   - isTerminal: draw a bar instead of lines. Default: whether standard error is a terminal.
    ///   - lineInterval: time between plain lines. Default: 2 s.
    ///   - write: where the text goes. Default: standard error.
    public init(
        label: String, total: Int64, unit: String, isTerminal: Bool = isatty(STDERR_FILENO) == 1,
        lineInterval: Duration = .seconds(2),
        write: @escaping @Sendable (String) -> Void = { FileHandle.standardError.write(Data($0.utf8)) }
    ) {
        self.label = label
        self.total = total
        self.unit = unit
        self.isTerminal = isTerminal
        self.lineInterval = lineInterval
        self.write = write
    }

    /// Time since the display was created.
    public var elapsed: Duration { ContinuousClock.now - started }

    /// Units per second so far.
    public func rate(_ done: Int64) -> Double {
        let seconds = elapsed.inSeconds
        return seconds > 0 ? Double(done) / seconds : 0
    }

    /// Shows `done` if the last update is long enough ago (100 ms for the bar).
    public mutating func update(_ done: Int64) {
        let now = ContinuousClock.now
        if let lastShown, now - lastShown < (isTerminal ? .milliseconds(100) : lineInterval) { return }
        lastShown = now
        show(done)
    }

    /// Shows the final state and ends the bar's line.
    public mutating func finish(_ done: Int64) {
        show(done)
        if isTerminal { write("\n") }
    }

    private func show(_ done: Int64) {
        let fraction = total > 0 ? min(1, Double(done) / Double(total)) : 1
        let counts = "\(done) / \(total) \(unit), \(Int(rate(done).rounded()))/s"
        if isTerminal {
            let width = 30
            let filled = Int((fraction * Double(width)).rounded(.down))
            let bar = String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled)
            // Carriage return and "erase line": the bar is redrawn in place.
            write("\r\u{1B}[2K\(label) [\(bar)] \(Int(fraction * 100))%  \(counts)")
        } else {
            write("\(label): \(counts) (\(Int(fraction * 100))%)\n")
        }
    }
}
