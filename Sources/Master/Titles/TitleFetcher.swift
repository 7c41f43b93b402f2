import AsyncHTTPClient
import Foundation
import Logging
import Metrics
import NIOCore
import ServiceLifecycle
import SharedLinks
import SharedOutbound
import SharedResilience

/// Gives a link created without a title the `<title>` of its target's page, in the background
/// (`SHORTENER_FETCH_TITLES`, off by default): the create never waits for it. The target is
/// fetched only where ``PublicAddressPolicy`` allows (public addresses, as for webhooks;
/// each redirect hop checked again and connected to the address checked), within 2 s, reading at
/// most 256 KiB of an HTML answer; the title is saved as an edit would be (a new revision and a
/// `link.updated` event), unless someone gave the link a title in the meantime.
///
/// Links wait in a bounded queue (a full queue drops the newest and counts it) and a few are
/// fetched at a time. Fetches share one circuit breaker, which also keeps their time limit: it
/// counts transport failures (no connection, a timeout), so that a master whose outbound network
/// is down stops trying for a while; a page that answers 404 or is not HTML is an answer, and a
/// refused address no call at all.
final class TitleFetcher: Service, Sendable {
    /// How titles are fetched.
    struct Settings: Sendable {
        /// Whether targets on loopback, private and link-local addresses may be fetched (local
        /// set-ups and tests). Default: false.
        var allowsPrivateAddresses = false
        /// Longest a fetch may take, redirects included. Default: 2 s.
        var timeout: Duration = .seconds(2)
        /// Most bytes of a page read. Default: 256 KiB.
        var maximumBytes = 256 * 1024
        /// Most redirects followed. Default: 3.
        var maximumRedirects = 3
        /// Links waiting at most. Default: 10,000.
        var queueCapacity = 10_000
        /// Fetches at once. Default: 4.
        var concurrency = 4
    }

    /// How a fetch ended, as counted in `shortener_title_fetches_total{outcome}`.
    enum Outcome: String, Sendable, CaseIterable {
        /// The title was saved.
        case saved
        /// The page had no title, was not HTML, or did not answer 200.
        case noTitle = "no_title"
        /// The link was gone or had a title by the time of the fetch.
        case skipped
        /// Its address is not allowed.
        case refused
        /// No answer in time, no connection, or the breaker open.
        case failed
        /// The queue was full.
        case dropped
    }

    private let repository: any LinkRepository
    private let settings: Settings
    private let policy: PublicAddressPolicy
    private let breaker: CircuitBreaker
    private let logger: Logger
    private let queue: AsyncStream<LinkAddress>
    private let continuation: AsyncStream<LinkAddress>.Continuation
    private let outcomes: [Outcome: Counter]

    init(repository: any LinkRepository, settings: Settings = Settings(), logger: Logger) {
        self.repository = repository
        self.settings = settings
        self.logger = logger
        policy = PublicAddressPolicy(allowsPrivateAddresses: settings.allowsPrivateAddresses)
        var breakerSettings = CircuitBreaker.Settings()
        breakerSettings.callTimeout = settings.timeout
        breaker = CircuitBreaker(
            dependency: "title-fetch", settings: breakerSettings, logger: logger,
            isDependencyFailure: { !($0 is PublicAddressPolicy.Refusal) })
        (queue, continuation) = AsyncStream.makeStream(bufferingPolicy: .bufferingOldest(settings.queueCapacity))
        outcomes = Dictionary(
            uniqueKeysWithValues: Outcome.allCases.map {
                ($0, Counter(label: "shortener_title_fetches_total", dimensions: [("outcome", $0.rawValue)]))
            })
    }

    /// Asks for the title of the link at `address`; returns at once.
    func enqueue(_ address: LinkAddress) {
        if case .dropped = continuation.yield(address) { outcomes[.dropped]?.increment() }
    }

    /// Fetches queued titles, a few at a time, until the master stops; what is still queued then
    /// is dropped (a title is a nicety, and the link is there without it).
    func run() async {
        await withGracefulShutdownHandler {
            await withTaskGroup(of: Void.self) { fetches in
                var running = 0
                for await address in queue {
                    if running == settings.concurrency {
                        await fetches.next()
                        running -= 1
                    }
                    fetches.addTask { await self.fetchTitle(of: address) }
                    running += 1
                }
            }
        } onGracefulShutdown: {
            self.continuation.finish()
        }
    }

    /// Fetches and saves the title of the link at `address`, counting how it went.
    func fetchTitle(of address: LinkAddress) async {
        let outcome: Outcome
        do {
            outcome = try await saveTitle(of: address)
        } catch let refusal as PublicAddressPolicy.Refusal {
            logger.info("Title not fetched: \(refusal)", metadata: ["link.key": "\(address)"])
            outcome = .refused
        } catch {
            logger.debug("Title fetch failed: \(error)", metadata: ["link.key": "\(address)"])
            outcome = .failed
        }
        outcomes[outcome]?.increment()
    }

    private func saveTitle(of address: LinkAddress) async throws -> Outcome {
        guard var link = try await repository.link(address), link.title == nil, link.status != .deleted else {
            return .skipped
        }
        guard let title = try await breaker.run({ [self, url = link.url] in try await fetch(url) }) else {
            return .noTitle
        }
        // An edit between the read and now: save only if the link still has no title.
        for _ in 1...3 {
            switch try await repository.update(
                address, with: LinkChange(title: .set(title)), expectedRevision: link.revision)
            {
            case .edited:
                logger.info("Saved a link's title from its page", metadata: ["link.key": "\(address)"])
                return .saved
            case .notFound, .deleted, .addressTaken:
                return .skipped
            case .revisionMismatch:
                guard let current = try await repository.link(address), current.title == nil else { return .skipped }
                link = current
            }
        }
        return .skipped
    }

    /// The title of the page at `url`, following up to ``Settings/maximumRedirects`` redirects,
    /// each hop's host checked by the policy; nil when the page has none.
    func fetch(_ url: String) async throws -> String? {
        var location = url
        for _ in 0...settings.maximumRedirects {
            guard let target = URL(string: location), let scheme = target.scheme?.lowercased(),
                scheme == "http" || scheme == "https", let host = target.host, !host.isEmpty
            else { return nil }
            let pinnedAddress = try await policy.check(host: host)
            let client = HTTPClient(
                eventLoopGroupProvider: .singleton,
                configuration: PinnedHTTPClient.configuration(dnsOverride: pinnedAddress.map { [host: $0] } ?? [:]))
            let hop: Result<Hop, any Error>
            do {
                hop = .success(try await self.hop(to: location, from: target, through: client))
            } catch {
                hop = .failure(error)
            }
            try? await client.shutdown()
            switch try hop.get() {
            case .page(let title): return title
            case .redirect(let next): location = next
            }
        }
        return nil
    }

    /// What one request found: the page's title (nil: none), or where it redirects.
    private enum Hop {
        case page(String?)
        case redirect(String)
    }

    private func hop(to location: String, from target: URL, through client: HTTPClient) async throws -> Hop {
        var request = HTTPClientRequest(url: location)
        request.headers.add(name: "User-Agent", value: "Shortener title fetcher (+link preview)")
        request.headers.add(name: "Accept", value: "text/html,application/xhtml+xml")
        let response = try await client.execute(request, timeout: .nanoseconds(Int64(settings.timeout.inSeconds * 1e9)))
        switch response.status.code {
        case 200:
            let type = response.headers.first(name: "Content-Type")?.lowercased() ?? ""
            guard type.hasPrefix("text/html") || type.hasPrefix("application/xhtml+xml") else { return .page(nil) }
            return .page(try await title(in: response.body))
        case 301, 302, 303, 307, 308:
            guard let next = response.headers.first(name: "Location"),
                let resolved = URL(string: next, relativeTo: target)?.absoluteString
            else { return .page(nil) }
            return .redirect(resolved)
        default:
            return .page(nil)
        }
    }

    /// The title in the first ``Settings/maximumBytes`` of `body`, read until it is found.
    private func title(in body: HTTPClientResponse.Body) async throws -> String? {
        var page: [UInt8] = []
        for try await chunk in body {
            page.append(contentsOf: chunk.readableBytesView.prefix(settings.maximumBytes - page.count))
            if let title = HTMLTitle.extract(from: page) { return title }
            if page.count >= settings.maximumBytes { return nil }
        }
        return nil
    }
}
