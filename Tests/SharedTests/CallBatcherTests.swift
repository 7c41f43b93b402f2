import NIOConcurrencyHelpers
import SharedResilience
import Testing

/// Batches form while a batch is in flight, never wait for a timer, keep to their bound, and
/// answer each caller with its own reply or its batch's error.
@Suite struct CallBatcherTests {
    struct Boom: Error {}

    /// A send that doubles each item, records each batch, and holds the batch numbered
    /// `holding` until ``release()``.
    final class Recorder: Sendable {
        let batches = NIOLockedValueBox<[[Int]]>([])
        private let gate = NIOLockedValueBox<CheckedContinuation<Void, Never>?>(nil)
        private let released = NIOLockedValueBox(false)
        let holding: Int
        let failing: Set<Int>

        init(holding: Int = 0, failing: Set<Int> = []) {
            self.holding = holding
            self.failing = failing
        }

        func send(_ items: [Int]) async throws -> [Int] {
            let number = batches.withLockedValue { batches in
                batches.append(items)
                return batches.count - 1
            }
            if number == holding {
                await withCheckedContinuation { continuation in
                    let open = released.withLockedValue { released in
                        if !released { gate.withLockedValue { $0 = continuation } }
                        return released
                    }
                    if open { continuation.resume() }
                }
            }
            if failing.contains(number) { throw Boom() }
            return items.map { $0 * 2 }
        }

        func release() {
            released.withLockedValue { $0 = true }
            gate.withLockedValue { gate in
                gate?.resume()
                gate = nil
            }
        }
    }

    private static func outcome(_ call: () async throws -> Int) async -> Result<Int, any Error> {
        do { return .success(try await call()) } catch { return .failure(error) }
    }

    /// Starts `items` as concurrent calls once `first` is in flight and waiting, then lets it go;
    /// returns each item's reply (or error).
    private func callWhileOneIsInFlight(
        _ batcher: CallBatcher<Int, Int>, _ recorder: Recorder, first: Int, items: [Int]
    ) async -> [Int: Result<Int, any Error>] {
        await withTaskGroup(of: (Int, Result<Int, any Error>).self) { group in
            group.addTask { (first, await Self.outcome { try await batcher.call(first) }) }
            while recorder.batches.withLockedValue({ $0.isEmpty }) { await Task.yield() }
            for item in items {
                group.addTask { (item, await Self.outcome { try await batcher.call(item) }) }
            }
            while batcher.waiting < items.count { await Task.yield() }
            recorder.release()
            var replies: [Int: Result<Int, any Error>] = [:]
            for await (item, reply) in group { replies[item] = reply }
            return replies
        }
    }

    @Test func aLoneCallGoesAtOnceAlone() async throws {
        let recorder = Recorder(holding: -1)
        let batcher = CallBatcher<Int, Int>(maximumBatch: 8) { try await recorder.send($0) }
        #expect(try await batcher.call(21) == 42)
        #expect(try await batcher.call(4) == 8)
        #expect(recorder.batches.withLockedValue { $0 } == [[21], [4]])
    }

    @Test func callsArrivingMeanwhileGoTogetherEachWithItsOwnReply() async throws {
        let recorder = Recorder()
        let batcher = CallBatcher<Int, Int>(maximumBatch: 64) { try await recorder.send($0) }
        let items = Array(1...10)
        let replies = await callWhileOneIsInFlight(batcher, recorder, first: 0, items: items)
        for item in [0] + items { #expect(try replies[item]?.get() == item * 2) }
        let batches = recorder.batches.withLockedValue { $0 }
        #expect(batches.count == 2)
        #expect(batches.last.map { Set($0) } == Set(items), "the ten waiting went in one batch")
        #expect(batcher.waiting == 0)
    }

    @Test func batchesKeepToTheirBound() async throws {
        let recorder = Recorder()
        let batcher = CallBatcher<Int, Int>(maximumBatch: 4) { try await recorder.send($0) }
        let items = Array(1...10)
        let replies = await callWhileOneIsInFlight(batcher, recorder, first: 0, items: items)
        for item in [0] + items { #expect(try replies[item]?.get() == item * 2) }
        #expect(recorder.batches.withLockedValue { $0.map(\.count) } == [1, 4, 4, 2])
    }

    @Test func aFailedBatchFailsItsCallersOnlyAndTheNextOneRuns() async throws {
        let recorder = Recorder(failing: [0])
        let batcher = CallBatcher<Int, Int>(maximumBatch: 4) { try await recorder.send($0) }
        let items = Array(1...6)
        let replies = await callWhileOneIsInFlight(batcher, recorder, first: 0, items: items)
        #expect(throws: Boom.self) { try replies[0]?.get() }
        for item in items { #expect(try replies[item]?.get() == item * 2) }
    }

    @Test func aWrongNumberOfRepliesFailsTheWholeBatch() async throws {
        let batcher = CallBatcher<Int, Int>(maximumBatch: 4) { _ in [] }
        await #expect(throws: CallBatcher<Int, Int>.ReplyCountMismatch.self) { try await batcher.call(1) }
    }
}
