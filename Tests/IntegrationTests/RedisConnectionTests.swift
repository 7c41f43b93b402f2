import NIOCore
import NIOPosix
import SharedRedis
import SharedResilience
import TestSupport
import Testing

/// The NIO Redis client against a real Redis server, a stopped one and one that never answers.
@Suite struct RedisConnectionTests {
    @Test func concurrentCommandsEachGetTheirOwnReply() async throws {
        let redis = RedisConnection(host: "127.0.0.1", port: try TestStack.redisPorts[0], logger: TestStack.logger)
        defer { redis.close() }
        let loops = Array(MultiThreadedEventLoopGroup.singleton.makeIterator())
        try await withThrowingTaskGroup(of: Void.self) { group in
            for index in 0..<600 {
                let body: @concurrent @Sendable () async throws -> Void = { try await Self.echo(index, through: redis) }
                // A third from each event loop (they share that loop's socket), a third from elsewhere.
                if index % 3 == 2 {
                    group.addTask(operation: body)
                } else {
                    group.addTask(
                        executorPreference: EventLoopTaskExecutor(loops[index % 3 % loops.count]), operation: body)
                }
            }
            try await group.waitForAll()
        }
        await #expect(throws: RedisError.self) { try await redis.send(["NO-SUCH-COMMAND"]) }
        #expect(try await redis.send(["PING"]) == .status("PONG"))
    }

    private static func echo(_ index: Int, through redis: RedisConnection) async throws {
        let text = "value-\(index)-" + String(repeating: "x", count: index % 50)
        let reply = try await redis.send(["ECHO", text])
        #expect(reply.string == text)
    }

    @Test func aStoppedServerFailsFastAndIsReconnectedWhenBack() async throws {
        let server = try await PrivateRedis()
        defer { server.remove() }
        let redis = RedisConnection(host: "127.0.0.1", port: server.port, logger: TestStack.logger)
        defer { redis.close() }
        #expect(try await redis.send(["SET", "k", "v"]) == .status("OK"))
        try await server.stop()
        for _ in 0..<3 {
            let error = await #expect(throws: RedisError.self) { try await redis.send(["GET", "k"]) }
            #expect(error?.kind == .connection)
        }
        try await server.start()
        #expect(try await redis.send(["PING"]) == .status("PONG"))
    }

    @Test func aServerThatNeverAnswersFailsCommandsAfterTheTimeout() async throws {
        let silent = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .childChannelInitializer { $0.eventLoop.makeSucceededVoidFuture() }
            .bind(host: "127.0.0.1", port: 0).get()
        defer { silent.close(promise: nil) }
        let redis = RedisConnection(
            host: "127.0.0.1", port: silent.localAddress!.port!, timeout: .milliseconds(400), logger: TestStack.logger)
        defer { redis.close() }
        let started = ContinuousClock.now
        // The command must fail by itself; a generous deadline only keeps a hang from hanging the
        // run (how soon after 400 ms it fails depends on a busy machine's scheduling, not on us).
        let failure = try await withThrowingTaskGroup(of: RedisError?.self) { group in
            group.addTask {
                do {
                    _ = try await redis.send(["PING"])
                    return nil
                } catch let error as RedisError {
                    return error
                }
            }
            group.addTask {
                try await Task.sleep(for: .seconds(30))
                throw CancellationError()
            }
            defer { group.cancelAll() }
            return try await group.next()!
        }
        #expect(failure?.kind == .connection)
        #expect(ContinuousClock.now - started >= .milliseconds(400))
    }

    @Test func aClosedConnectionRefusesCommands() async throws {
        let redis = RedisConnection(host: "127.0.0.1", port: try TestStack.redisPorts[0], logger: TestStack.logger)
        #expect(try await redis.send(["PING"]) == .status("PONG"))
        redis.close()
        try await Task.sleep(for: .milliseconds(50))
        let error = await #expect(throws: RedisError.self) { try await redis.send(["PING"]) }
        #expect(error?.kind == .closed)
    }
}
