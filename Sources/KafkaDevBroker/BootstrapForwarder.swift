import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle

/// A fixed loopback port that forwards every connection to the mock cluster's bootstrap
/// address, which librdkafka picks at random on each start. Clients only bootstrap through it:
/// the metadata they read names the mock broker itself, and they connect there for the rest.
/// So the address `make run` hands out (in `.local/run/env`) stays the same across restarts.
final class BootstrapForwarder: Service, Sendable {
    private let server: NIOAsyncChannel<NIOAsyncChannel<ByteBuffer, ByteBuffer>, Never>
    private let target: (host: String, port: Int)
    private let logger: Logger

    /// The address clients bootstrap from, `127.0.0.1:<port>`.
    let address: String

    /// Binds `127.0.0.1:port` (it fails when the port is taken) for connections to `target`,
    /// the mock cluster's `host:port`.
    init(port: Int, target: String, logger: Logger) async throws {
        guard let colon = target.lastIndex(of: ":"), let targetPort = Int(target[target.index(after: colon)...])
        else { throw BootstrapForwarderError("the mock cluster's address \(target) has no port") }
        self.target = (String(target[..<colon]), targetPort)
        self.logger = logger
        do {
            server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .bind(host: "127.0.0.1", port: port) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                    }
                }
        } catch {
            throw BootstrapForwarderError(
                "cannot listen on 127.0.0.1:\(port) (\(error)): is another dev broker running? Choose another port")
        }
        address = "127.0.0.1:\(server.channel.localAddress?.port ?? port)"
    }

    /// Forwards until graceful shutdown, which ends every forwarded connection with it (clients
    /// keep theirs open for good).
    func run() async throws {
        try? await cancelWhenGracefulShutdown { [self] in
            try await withThrowingDiscardingTaskGroup { connections in
                try await server.executeThenClose { inbound in
                    for try await client in inbound {
                        connections.addTask { await self.forward(client) }
                    }
                }
            }
        }
    }

    /// Copies bytes both ways between a client and the mock cluster until either side closes.
    private func forward(_ client: NIOAsyncChannel<ByteBuffer, ByteBuffer>) async {
        do {
            let broker = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .connect(host: target.host, port: target.port) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                    }
                }
            try await client.executeThenClose { clientInbound, clientOutbound in
                try await broker.executeThenClose { brokerInbound, brokerOutbound in
                    try await withThrowingTaskGroup(of: Void.self) { directions in
                        directions.addTask {
                            for try await bytes in clientInbound { try await brokerOutbound.write(bytes) }
                        }
                        directions.addTask {
                            for try await bytes in brokerInbound { try await clientOutbound.write(bytes) }
                        }
                        try await directions.next()
                        directions.cancelAll()
                    }
                }
            }
        } catch {
            logger.debug("A forwarded bootstrap connection ended", metadata: ["error": "\(error)"])
        }
    }
}

/// The forwarder could not start.
struct BootstrapForwarderError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
