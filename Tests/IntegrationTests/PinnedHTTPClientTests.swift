import AsyncHTTPClient
import Hummingbird
import NIOConcurrencyHelpers
import TestSupport
import Testing
import SharedOutbound

/// A webhook call connects to the address its receiver check approved, never to what the name
/// resolves to at connect time (DNS rebinding).
@Suite struct PinnedHTTPClientTests {
    @Test func connectsToThePinnedAddressNotToWhatTheNameResolvesTo() async throws {
        let hosts = NIOLockedValueBox<[String]>([])
        let router = Router()
        router.post("hook") { request, _ -> HTTPResponse.Status in
            hosts.withLockedValue { $0.append(request.head.authority ?? "") }
            return .noContent
        }
        let receiver = try await TestServer(router: router, name: "receiver")
        defer { receiver.stop() }
        let pinned = PinnedHTTPClient()
        // Shut down however the checks end: a client dropped unshut traps in debug builds.
        do {
            try await exercise(pinned, port: receiver.port, hosts: hosts)
        } catch {
            await pinned.shutdown()
            throw error
        }
        await pinned.shutdown()
    }

    private func exercise(_ pinned: PinnedHTTPClient, port: Int, hosts: NIOLockedValueBox<[String]>) async throws {
        // `.invalid` never resolves (RFC 6761): only the pinned address can be reached.
        let client = await pinned.client(for: "receiver.invalid", at: "127.0.0.1")
        var request = HTTPClientRequest(url: "http://receiver.invalid:\(port)/hook")
        request.method = .POST
        let response = try await client.execute(request, timeout: .seconds(5))
        #expect(response.status == .noContent)
        #expect(hosts.withLockedValue { $0 } == ["receiver.invalid:\(port)"], "the Host header keeps the name")
        // The same address reuses the client; a new one replaces it.
        #expect(await pinned.client(for: "receiver.invalid", at: "127.0.0.1") === client)
        #expect(await pinned.client(for: "receiver.invalid", at: "127.0.0.2") !== client)
    }
}
