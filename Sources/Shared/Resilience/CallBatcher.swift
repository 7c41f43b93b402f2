import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// Calls of one kind sent together: an item that arrives while a batch is in flight waits, and
/// goes with everything else that arrived meanwhile (at most ``maximumBatch`` items) as soon as
/// that batch returns. Nothing waits for a timer: an item that finds nothing in flight goes at
/// once, alone. Like a database's group commit, the batches grow with the load by themselves.
///
/// Each event loop has a lane of its own, so a batch is sent from the loop whose callers it
/// holds (and on that loop's socket); callers on no event loop share one lane.
///
/// No task is made: the caller that finds its lane idle sends the batch from its own task, and
/// when the batch returns it hands the next one to the first caller waiting, whose task sends
/// it. A caller's cancellation does not reach the others: ``Send`` must bound its own waiting.
///
/// Its calls are inlinable, so that they are specialized for their item and reply where they
/// are used: unspecialized, looking up the generic types' metadata was a tenth of each call.
public final class CallBatcher<Item: Sendable, Reply: Sendable>: Sendable {
    /// Sends one batch; returns one reply per item, in the items' order, or throws for all of them.
    public typealias Send = @Sendable ([Item]) async throws -> [Reply]

    /// The batch was answered with a different number of replies than it had items.
    public struct ReplyCountMismatch: Error, CustomStringConvertible {
        public let items: Int
        public let replies: Int
        public var description: String { "a batch of \(items) items got \(replies) replies" }

        @usableFromInline
        init(items: Int, replies: Int) {
            self.items = items
            self.replies = replies
        }
    }

    @usableFromInline
    struct Waiter: Sendable {
        @usableFromInline let item: Item
        @usableFromInline let continuation: CheckedContinuation<Turn, Never>

        @inlinable
        init(item: Item, continuation: CheckedContinuation<Turn, Never>) {
            self.item = item
            self.continuation = continuation
        }
    }

    /// What a waiting caller is woken for: its reply, or to send the next batch.
    @usableFromInline
    enum Turn: Sendable {
        case answered(Result<Reply, any Error>)
        case lead(others: [Waiter])
    }

    @usableFromInline
    struct Lane: Sendable {
        @usableFromInline var busy = false
        @usableFromInline var waiting = CircularBuffer<Waiter>()

        @usableFromInline
        init() {}
    }

    /// Most items in one batch.
    public let maximumBatch: Int
    @usableFromInline let send: Send
    @usableFromInline let lanes: [ObjectIdentifier: NIOLockedValueBox<Lane>]
    @usableFromInline let sharedLane = NIOLockedValueBox(Lane())

    /// - Parameter eventLoopGroup: the loops that each get a lane (by default the process's
    ///   shared loops, where HTTP handlers run).
    public init(
        maximumBatch: Int, eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        send: @escaping Send
    ) {
        precondition(maximumBatch >= 1, "a batch holds at least one item")
        self.maximumBatch = maximumBatch
        self.send = send
        var lanes: [ObjectIdentifier: NIOLockedValueBox<Lane>] = [:]
        for loop in eventLoopGroup.makeIterator() { lanes[ObjectIdentifier(loop)] = NIOLockedValueBox(Lane()) }
        self.lanes = lanes
    }

    /// Items waiting for the batch in flight on their lane, on every lane.
    public var waiting: Int {
        lanes.values.reduce(sharedLane.withLockedValue { $0.waiting.count }) { sum, lane in
            sum + lane.withLockedValue { $0.waiting.count }
        }
    }

    /// Sends `item` with the others of its lane and returns its reply.
    @inlinable
    public func call(_ item: Item) async throws -> Reply {
        let lane =
            MultiThreadedEventLoopGroup.currentEventLoop.flatMap { lanes[ObjectIdentifier($0)] } ?? sharedLane
        let turn = await withCheckedContinuation { (continuation: CheckedContinuation<Turn, Never>) in
            let leads = lane.withLockedValue { lane in
                guard !lane.busy else {
                    lane.waiting.append(Waiter(item: item, continuation: continuation))
                    return false
                }
                lane.busy = true
                return true
            }
            if leads { continuation.resume(returning: .lead(others: [])) }
        }
        switch turn {
        case .answered(let reply):
            return try reply.get()
        case .lead(let others):
            return try await lead(item, with: others, on: lane).get()
        }
    }

    /// Sends `item` and `others` as one batch, hands the next batch to the first caller
    /// waiting (or marks the lane idle), then answers `others`.
    @inlinable
    func lead(_ item: Item, with others: [Waiter], on lane: NIOLockedValueBox<Lane>) async -> Result<
        Reply, any Error
    > {
        var items = [item]
        items.reserveCapacity(others.count + 1)
        for other in others { items.append(other.item) }
        let replies: Result<[Reply], any Error>
        do {
            let answered = try await send(items)
            replies =
                answered.count == items.count
                ? .success(answered) : .failure(ReplyCountMismatch(items: items.count, replies: answered.count))
        } catch {
            replies = .failure(error)
        }
        let next = lane.withLockedValue { lane -> [Waiter] in
            let count = min(lane.waiting.count, maximumBatch)
            guard count > 0 else {
                lane.busy = false
                return []
            }
            var next: [Waiter] = []
            next.reserveCapacity(count)
            for _ in 0..<count { next.append(lane.waiting.removeFirst()) }
            return next
        }
        if let first = next.first { first.continuation.resume(returning: .lead(others: Array(next.dropFirst()))) }
        for (index, other) in others.enumerated() {
            other.continuation.resume(returning: .answered(replies.map { $0[index + 1] }))
        }
        return replies.map { $0[0] }
    }
}
