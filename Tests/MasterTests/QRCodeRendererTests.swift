import Foundation
import NIOConcurrencyHelpers
import SharedService
import Testing
@testable import Master

@Suite struct QRCodeRendererTests {
    @Test func refusesPastItsBoundAndDrawsAgainOnceFree() async throws {
        let renderer = QRCodeRenderer(maximumAtOnce: 2)
        // Two drawings held at a gate fill the bound.
        let gate = NIOLockedValueBox(false)
        let started = NIOLockedValueBox(0)
        let held = Task {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<2 {
                    group.addTask {
                        try await renderer.render {
                            started.withLockedValue { $0 += 1 }
                            while !gate.withLockedValue({ $0 }) { usleep(1000) }
                        }
                    }
                }
                try await group.waitForAll()
            }
        }
        while started.withLockedValue({ $0 }) < 2 { try await Task.sleep(for: .milliseconds(5)) }
        let refused = await #expect(throws: APIError.self) { try await renderer.render { 1 } }
        #expect(refused?.status == .serviceUnavailable && refused?.code == "busy")
        #expect(refused?.headers[.retryAfter] == "1")
        gate.withLockedValue { $0 = true }
        try await held.value
        // With the bound free again, the next one is drawn.
        #expect(try await renderer.render { 42 } == 42)
    }
}
