import Metrics
import NIOConcurrencyHelpers
import ServiceLifecycle
import SharedResilience

/// Group commit for `POST /create`, as Postgres does for its WAL and Kafka for its batches:
/// concurrent creates queue here, and one writer at a time flushes whatever has queued, up to
/// ``maximumBatch``, through ``PostgresLinkRepository/createGroup(_:on:)`` (one statement for all of
/// them). When a flush ends, the next takes everything that queued meanwhile. Nothing waits for
/// company: a lone create is flushed at once, so it is no slower than writing alone.
///
/// One writer, not several: with two or four flushes in flight the bench measured no gain (the
/// flushes got smaller and Postgres did more work per create). The writer is a service of the
/// master's group: it runs while the master runs, and when the master stops it writes what is
/// queued and then refuses new creates. A caller that is cancelled before its create is queued,
/// or while it waits in the queue, leaves it unwritten; once taken into a flush, its create is
/// written (and published) like the others.
final class CreateGroupCommit: LinkCreator, Service {
    /// Most creates one flush takes. Default: 128.
    static let defaultMaximumBatch = 128

    private struct Waiting: Sendable {
        let id: UInt64
        let create: PostgresLinkRepository.GroupedCreate
        let continuation: CheckedContinuation<LinkCreation, any Error>
    }

    private struct State {
        var queue: [Waiting] = []
        /// The writer, waiting for a create to queue.
        var idleWriter: CheckedContinuation<Void, Never>?
        var stopped = false
        var lastID: UInt64 = 0
        /// Creates that have an id but are not queued yet. A cancellation that comes first (the
        /// handler runs before the operation when the task is already cancelled) removes its
        /// id here, and the create is then never queued.
        var notYetQueued: Set<UInt64> = []
    }

    /// Creates per flush (`create_flush_size`) and how long each flush took
    /// (`create_flush_duration_seconds`).
    private static let flushSize = Recorder(label: "create_flush_size")
    private static let flushDuration = Metrics.Timer(label: "create_flush_duration_seconds")

    private let repository: PostgresLinkRepository
    /// The connection the flushes are written on.
    let connection: WriterConnection
    private let maximumBatch: Int
    private let state = NIOLockedValueBox(State())

    /// Where the writer runs: the loop of its connection, so that a flush is built, sent,
    /// answered and decoded on one thread, never waiting for a turn on a loop busy with HTTP.
    private let executor: EventLoopTaskExecutor

    /// A group commit writing through `repository` on `connection`.
    init(repository: PostgresLinkRepository, connection: WriterConnection, maximumBatch: Int = defaultMaximumBatch) {
        self.repository = repository
        self.connection = connection
        self.executor = EventLoopTaskExecutor(connection.eventLoop)
        self.maximumBatch = maximumBatch
    }

    /// Creates `link` in the next flush; the outcome is this create's alone.
    func create(_ link: NewLink, idempotency: IdempotencyKey?) async throws -> LinkCreation {
        let id = state.withLockedValue { state in
            state.lastID += 1
            state.notYetQueued.insert(state.lastID)
            return state.lastID
        }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                let waiting = Waiting(
                    id: id, create: .init(link: link, idempotency: idempotency), continuation: continuation)
                let queued = state.withLockedValue { state -> Result<CheckedContinuation<Void, Never>?, any Error> in
                    guard state.notYetQueued.remove(id) != nil else { return .failure(CancellationError()) }
                    guard !state.stopped else { return .failure(WriterConnection.Stopped()) }
                    state.queue.append(waiting)
                    defer { state.idleWriter = nil }
                    return .success(state.idleWriter)
                }
                switch queued {
                case .failure(let error): continuation.resume(throwing: error)
                case .success(let idleWriter): idleWriter?.resume()
                }
            }
        } onCancel: {
            let left = state.withLockedValue { state -> Waiting? in
                if state.notYetQueued.remove(id) != nil { return nil }
                guard let index = state.queue.firstIndex(where: { $0.id == id }) else { return nil }
                return state.queue.remove(at: index)
            }
            left?.continuation.resume(throwing: CancellationError())
        }
    }

    /// Creates waiting in the queue for a flush.
    var queued: Int { state.withLockedValue { $0.queue.count } }

    /// The writer: flushes whatever has queued, on its connection's loop, until the master
    /// stops; then flushes what is still queued and refuses new creates.
    func run() async {
        await withTaskExecutorPreference(executor) {
            await withTaskCancellationOrGracefulShutdownHandler {
                while await nextCreatesQueued() {
                    await flushWhileQueued()
                }
            } onCancelOrGracefulShutdown: {
                let idleWriter = self.state.withLockedValue { state in
                    state.stopped = true
                    defer { state.idleWriter = nil }
                    return state.idleWriter
                }
                idleWriter?.resume()
            }
        }
    }

    /// Waits until a create is queued; false once the master stops with nothing queued.
    private func nextCreatesQueued() async -> Bool {
        await withCheckedContinuation { (writer: CheckedContinuation<Void, Never>) in
            let waits = state.withLockedValue { state in
                guard state.queue.isEmpty, !state.stopped else { return false }
                state.idleWriter = writer
                return true
            }
            if !waits { writer.resume() }
        }
        return state.withLockedValue { !$0.queue.isEmpty || !$0.stopped }
    }

    /// Flushes batches until the queue is empty.
    ///
    /// The callers of a flush are answered while the next flush runs: their answers are handed
    /// to the writer's loop before the next flush starts, and the loop gets to them once that
    /// flush's statement is sent and the writer waits for Postgres. Answering first delayed
    /// every flush by a wake-up of an HTTP loop per caller.
    private func flushWhileQueued() async {
        var flushed: [(Waiting, Result<LinkCreation, any Error>)] = []
        while true {
            let batch = state.withLockedValue { state -> [Waiting] in
                let batch = Array(state.queue.prefix(maximumBatch))
                state.queue.removeFirst(batch.count)
                return batch
            }
            guard !batch.isEmpty else { return Self.answer(flushed) }
            if !flushed.isEmpty {
                connection.eventLoop.execute { [flushed] in Self.answer(flushed) }
            }
            let started = ContinuousClock.now
            let results = await repository.createGroup(batch.map(\.create), on: connection)
            Self.flushDuration.record(duration: ContinuousClock.now - started)
            Self.flushSize.record(batch.count)
            flushed = Array(zip(batch, results))
        }
    }

    private static func answer(_ flushed: [(Waiting, Result<LinkCreation, any Error>)]) {
        for (waiting, result) in flushed { waiting.continuation.resume(with: result) }
    }
}
