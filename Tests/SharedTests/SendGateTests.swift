import Foundation
import NIOConcurrencyHelpers
import Testing

@testable import SharedKafka

/// The producer's gate: sends pass it without a lock, and none reaches a client being closed.
@Suite struct SendGateTests {
    @Test func theCloseWaitsForTheSendInProgressAndRefusesLaterOnes() async throws {
        let gate = SendGate()
        #expect(gate.enter())
        let closed = NIOLockedValueBox(false)
        let closing = Thread {
            gate.close()
            closed.withLockedValue { $0 = true }
        }
        closing.start()
        // The close has begun (later sends are refused) but waits for the one in progress.
        let deadline = ContinuousClock.now + .seconds(10)
        var refused = false
        while !refused, ContinuousClock.now < deadline {
            if gate.enter() { gate.leave() } else { refused = true }
        }
        #expect(refused, "the closing gate still let sends in")
        try await Task.sleep(for: .milliseconds(50))
        #expect(!closed.withLockedValue({ $0 }), "closed while a send was in progress")
        gate.leave()
        while !closed.withLockedValue({ $0 }), ContinuousClock.now < deadline + .seconds(10) {
            try await Task.sleep(for: .milliseconds(1))
        }
        #expect(closed.withLockedValue { $0 }, "the close never returned")
        #expect(!gate.enter())
    }

    @Test func sendsFromManyThreadsNeverPassAClosedGate() async throws {
        let gate = SendGate()
        let passedAfterClose = NIOLockedValueBox(0)
        let isClosed = NIOLockedValueBox(false)
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<4 {
                group.addTask {
                    for _ in 0..<200_000 {
                        guard gate.enter() else { continue }
                        // Inside the gate, the close must not have returned.
                        if isClosed.withLockedValue({ $0 }) { passedAfterClose.withLockedValue { $0 += 1 } }
                        gate.leave()
                    }
                }
            }
            group.addTask {
                try? await Task.sleep(for: .milliseconds(5))
                gate.close()
                isClosed.withLockedValue { $0 = true }
            }
        }
        #expect(passedAfterClose.withLockedValue { $0 } == 0)
        #expect(!gate.enter())
    }
}
