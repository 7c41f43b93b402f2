import NIOConcurrencyHelpers
import SharedService
import Testing

@Suite struct ProgressDisplayTests {
    private func capture(isTerminal: Bool, total: Int64 = 200) -> (ProgressDisplay, NIOLockedValueBox<[String]>) {
        let written = NIOLockedValueBox<[String]>([])
        let display = ProgressDisplay(
            label: "Replay", total: total, unit: "messages", isTerminal: isTerminal, lineInterval: .seconds(60)
        ) { text in written.withLockedValue { $0.append(text) } }
        return (display, written)
    }

    @Test func withoutATerminalPrintsTheFirstStateThenOneLinePerIntervalAndTheLast() {
        var (display, written) = capture(isTerminal: false)
        display.update(0)
        display.update(50)
        display.update(120)
        display.finish(200)
        let lines = written.withLockedValue { $0 }
        #expect(lines.count == 2)
        #expect(lines[0].hasPrefix("Replay: 0 / 200 messages, "))
        #expect(lines[0].hasSuffix("(0%)\n"))
        #expect(lines[1].hasPrefix("Replay: 200 / 200 messages, "))
        #expect(lines[1].hasSuffix("(100%)\n"))
    }

    @Test func onATerminalRedrawsABarInPlaceAndEndsItsLine() {
        var (display, written) = capture(isTerminal: true)
        display.update(100)
        display.finish(200)
        let parts = written.withLockedValue { $0 }
        #expect(parts.count == 3)
        #expect(parts[0].hasPrefix("\r\u{1B}[2KReplay [###############---------------] 50%  100 / 200 messages"))
        #expect(parts[1].contains("[##############################] 100%  200 / 200 messages"))
        #expect(parts[2] == "\n")
    }

    @Test func anEmptyJobIsComplete() {
        var (display, written) = capture(isTerminal: false, total: 0)
        display.finish(0)
        let lines = written.withLockedValue { $0 }
        #expect(lines.count == 1)
        #expect(lines.first?.hasPrefix("Replay: 0 / 0 messages, 0/s (100%)") == true, "\(lines)")
    }
}
