import Foundation
import HTTPTypes
import Hummingbird
import Logging
import Metrics
import NIOConcurrencyHelpers
import SharedEvents
import SharedLinks
import SharedPasswords
import SharedRedis
import SharedResilience
import SharedService

/// `GET /<code>` on the domain the `Host` header names: `302` to the target (counting the
/// click), `404` for unknown codes, `410` for deleted or expired ones, or a redirect to the
/// domain's fallback page for either when it has one; `503` while Redis is unavailable or the
/// replica is still filling it (an unknown code may just not have arrived yet). `HEAD /<code>`
/// answers alike without a body and counts nothing. `GET /` goes to the domain's root page, if
/// it has one.
struct RedirectController: Sendable {
    let store: LinkStore
    let reporter: ClickReporter
    /// Whether the replica has not yet read the links topic up to where it stood at the start.
    let isCatchingUp: @Sendable () -> Bool
    /// Countries of client addresses, for the click's country.
    let countries: CountryLookup
    /// Whose `X-Forwarded-For` names the client.
    let trustedProxies: TrustedProxies
    /// User agents already classified.
    let clients = UserAgentRules.Cache()
    /// How long browsers and proxies may keep a permanent (301, 308) redirect.
    let permanentCacheSeconds: Int
    /// Each domain's `robots.txt`, as last read.
    let robotsFiles = RobotsFiles()
    /// The time rules are decided at (a test's clock in tests).
    let now: @Sendable () -> Date
    /// The routing of links visited lately, by link key and revision.
    let routings = RoutingCache()
    /// Where every answered visit goes, as an event.
    let visits: VisitRecorder
    /// Where passwords are checked: off the event loops, a bounded number a second.
    let passwordChecks: PasswordWorkers
    /// Where failures of the link store are logged.
    let logger: Logger

    func addRoutes(to router: Router<AppRequestContext>) {
        router.get("/") { request, context in
            guard case .domain(let domain) = store.domains.resolve(hostHeader: request.head.authority) else {
                throw Self.nothingAtRoot
            }
            let root = store.domains.fallbacks(of: domain).rootURL
            recordVisit(RedirectRequest(request, context), domain: domain, code: "", outcome: root == nil ? 404 : 302)
            guard let root else { throw Self.nothingAtRoot }
            return Self.fallback(to: root)
        }
        router.get("robots.txt") { request, _ in
            try await robots(request)
        }
        router.get(":code") { request, context in
            try await Self.counted { try await redirect(RedirectRequest(request, context)) }
        }
        // A look, as link checkers and unfurlers take one: the GET's answer without its body,
        // counting no click and recording no visit.
        router.head(":code") { request, context in
            do {
                return try await redirect(RedirectRequest(request, context), counting: false).createHeadResponse()
            } catch let error as any HTTPResponseError {
                return try error.response(from: request, context: context).createHeadResponse()
            }
        }
        router.post(":code") { request, context in
            try await Self.counted { try await unlock(request, context) }
        }
    }

    /// `GET /<code>` ahead of the router (``FastRedirects``): the redirect when the link redirects,
    /// counted like the router's, or the `503` of a failed link store (a hung Redis costs the
    /// visitor one wait, not a second one in the router); nil for every other outcome, before
    /// anything was counted or recorded, so that the router answers it as if the fast path did
    /// not exist.
    func fastRedirect(_ request: RedirectRequest) async -> FastPathAnswer? {
        do {
            let response = try await redirect(request, onlyRedirects: true)
            Self.outcomes.redirected.increment()
            return FastPathAnswer(head: response.head)
        } catch let failed as StoreFailed {
            Self.outcomes.unavailable.increment()
            return FastPathAnswer(failed.answer)
        } catch {
            return nil
        }
    }

    /// The visit was not a redirect, and the fast path asked only for redirects.
    private struct NotARedirect: Error {}

    /// The link store failed on the fast path: its answer, already logged.
    private struct StoreFailed: Error {
        let answer: APIError
    }

    /// Counts the outcome of one visit in ``outcomes``.
    private static func counted(_ visit: () async throws -> Response) async throws -> Response {
        do {
            let response = try await visit()
            switch response.status.code {
            case 300..<400: outcomes.redirected.increment()
            default: outcomes.locked.increment()
            }
            return response
        } catch let error as APIError {
            switch error.status {
            case .notFound: outcomes.notFound.increment()
            case .gone: outcomes.gone.increment()
            case .tooManyRequests: outcomes.locked.increment()
            default: outcomes.unavailable.increment()
            }
            throw error
        }
    }

    /// `redirects_total{outcome}`, created once: the redirect path does no registry lookups.
    private static let outcomes = (
        redirected: Counter(label: "redirects_total", dimensions: [("outcome", "302")]),
        notFound: Counter(label: "redirects_total", dimensions: [("outcome", "404")]),
        gone: Counter(label: "redirects_total", dimensions: [("outcome", "410")]),
        unavailable: Counter(label: "redirects_total", dimensions: [("outcome", "503")]),
        locked: Counter(label: "redirects_total", dimensions: [("outcome", "password")])
    )

    /// Password attempts one client address may make on one link per ``attemptWindow``.
    static let attemptsPerWindow = 10
    static let attemptWindow = Duration.seconds(60)
    /// Largest password form body read.
    static let maximumFormSize = 1024

    /// The link a request names: its domain (stored name) and code; a fallback page's redirect
    /// or `404` when there is none.
    /// A malformed code is recorded as an orphan visit when `recording`.
    private func linkOf(_ request: RedirectRequest, recording: Bool = true) throws -> (
        domain: String?, code: String, fallback: Response?
    ) {
        let code = request.code
        guard case .domain(let domain) = store.domains.resolve(hostHeader: request.head.authority) else {
            throw APIError(.notFound, "unknown_host", "this host serves no short links")
        }
        guard ShortCode.isWellFormed(code) else {
            if recording {
                recordVisit(
                    request, domain: domain, code: VisitEvent.recordedCode(request.path.dropFirst()), outcome: 404)
            }
            if let page = store.domains.fallbacks(of: domain).notFoundURL {
                return (domain, code, Self.fallback(to: page))
            }
            throw APIError.unknownCode
        }
        return (domain, code, nil)
    }

    /// `POST /<code>` from a protected link's form: at most ``attemptsPerWindow`` attempts per
    /// link and client address (`429` past them, in this replica's Redis), the password
    /// verified off the event loops, then the redirect, as `303` so that the browser follows
    /// with a `GET` and the password goes nowhere else. A wrong password counts no click and
    /// answers the form again (`403`).
    private func unlock(_ request: Request, _ context: AppRequestContext) async throws -> Response {
        let visit = RedirectRequest(request, context)
        let (domain, code, fallback) = try linkOf(visit)
        if let fallback { return fallback }
        let key = LinkAddress(domain: domain, code: code).key
        let link = "\(displayHost(domain, visit))/\(code)"
        let password = try await PasswordForm.password(in: request, limit: Self.maximumFormSize)
        // A flood is refused before it costs an attempt in Redis.
        guard !passwordChecks.refusesNow() else { return Self.busyChecking(link) }
        let client =
            trustedProxies.clientAddress(socket: visit.socketAddress, forwardedFor: request.headers[.xForwardedFor])
            ?? "unknown"
        let attempt: LinkStore.Attempt
        do {
            attempt = try await store.attempt(
                key, from: client, limit: Self.attemptsPerWindow, window: Self.attemptWindow)
        } catch {
            throw storeFailure(error)
        }
        let hash: String
        switch attempt {
        case .limited(let seconds):
            recordVisit(visit, domain: domain, code: code, outcome: 429)
            var response = PasswordForm.page(
                link: link, problem: "Too many attempts; try again in a minute.", status: .tooManyRequests)
            response.headers[.retryAfter] = String(seconds)
            return response
        case .resolved, .verify(nil):
            return try await redirect(visit, seeOther: true)
        case .verify(let stored?):
            hash = stored
        }
        let accepted: Bool
        do {
            accepted = try await passwordChecks.run { PasswordHash.verify(password, against: hash) }
        } catch is PasswordWorkers.Busy {
            return Self.busyChecking(link)
        }
        guard accepted else {
            recordVisit(visit, domain: domain, code: code, outcome: 403)
            return PasswordForm.page(link: link, problem: "That password is not right.", status: .forbidden)
        }
        return try await redirect(visit, unlockedWith: hash, seeOther: true)
    }

    /// The host a link is shown under on its form: its domain, or the request's for the default one.
    private func displayHost(_ domain: String?, _ request: RedirectRequest) -> String {
        domain ?? String((request.head.authority ?? "").prefix { $0 != ":" }.prefix(253))
    }

    /// A Redis failure as the visitor's answer.
    private func storeFailure(_ error: any Error) -> APIError {
        switch error {
        case let open as CircuitOpenError: return APIError.unavailable(open)
        case is RedisStateLost: return Self.rebuilding
        default:
            logger.error("Redis lookup failed", metadata: ["error": "\(error)"])
            return APIError.unavailable("the link store is unavailable; try again")
        }
    }

    /// Resolves the request's link and, when it redirects, counts the click: `unlockedWith` is
    /// the hash a password was verified against; `seeOther` answers `303` (after a form).
    /// `onlyRedirects` throws ``NotARedirect``, having recorded nothing, for every outcome but
    /// a redirect or a failed store (``StoreFailed``). Without `counting` (a `HEAD`) the answer
    /// is the same, and no click is counted nor visit recorded.
    private func redirect(
        _ request: RedirectRequest, unlockedWith hash: String? = nil, seeOther: Bool = false,
        onlyRedirects: Bool = false, counting: Bool = true
    ) async throws -> Response {
        let (domain, code, fallback) = try linkOf(request, recording: counting)
        if let fallback {
            if onlyRedirects { throw NotARedirect() }
            return fallback
        }
        let now = now()
        let (attributes, address) = clickAttributes(of: request, at: now)
        let key = LinkAddress(domain: domain, code: code).key
        // Read (or made) only for a link with routing: a plain redirect costs nothing for it.
        var visitorID: (id: String, isNew: Bool)?
        func visitorCookie() -> (id: String, isNew: Bool) {
            if let visitorID { return visitorID }
            let read = SplitCookie.visitorID(in: request.headers[values: .cookie])
            visitorID = read
            return read
        }
        func decide(_ revision: Int64, _ routing: CompiledRouting) -> RoutedVisit {
            let visitor = RouteVisitor(
                device: attributes.client.device, os: attributes.client.os, browser: attributes.client.browser,
                country: attributes.country, acceptLanguage: request.headers[.acceptLanguage],
                query: request.query, address: address, now: now,
                bucket: routing.hasSplit ? RouteVisitor.bucket(visitorID: visitorCookie().id, linkKey: key) : 0)
            return RoutedVisit(revision: revision, decision: routing.decision(for: visitor))
        }
        var decided = routings.routing(of: key).map { decide($0.revision, $0.routing) }
        var visit: LinkStore.Visit
        // A routed link is counted once decided on its current routing: at most once more
        // after a change, a few times should it change again meanwhile.
        var attempts = 0
        repeat {
            attempts += 1
            do {
                visit = try await store.visit(
                    key, attributes: attributes, decided: decided, unlockedWith: hash, counting: counting, now: now)
            } catch {
                if onlyRedirects { throw StoreFailed(answer: storeFailure(error)) }
                throw storeFailure(error)
            }
            guard case .decide(let revision, let routing) = visit.resolution else { break }
            decided = routings.keep(routing, revision: revision, for: key).map { decide(revision, $0) }
        } while attempts < 4
        if case .decide = visit.resolution {
            throw APIError.unavailable("this link is changing; try again")
        }
        if onlyRedirects {
            guard case .redirect = visit.resolution else { throw NotARedirect() }
        }
        if let milestone = visit.milestone { reporter.report(milestone) }
        func record(_ outcome: Int) {
            guard counting, visits.isOn else { return }
            visits.record(
                domain: domain, code: code, outcome: outcome, decision: decided?.decision, attributes: attributes,
                at: now)
        }
        switch visit.resolution {
        case .redirect(let url, let options, let campaign):
            var response = Self.redirect(
                to: decided?.decision.target ?? url, options, campaign: campaign, query: request.query,
                permanentCacheSeconds: permanentCacheSeconds)
            if seeOther {
                // After the form: the browser follows with a GET, and nothing keeps the answer.
                response.status = .seeOther
                response.headers[.cacheControl] = "no-store"
            }
            if decided?.decision.variant != nil, let visitorID, visitorID.isNew {
                response.headers[.setCookie] = SplitCookie.header(for: visitorID.id)
            }
            record(Int(response.status.code))
            return response
        case .notFound:
            if isCatchingUp() { throw Self.rebuilding }
            record(404)
            if let page = store.domains.fallbacks(of: domain).notFoundURL { return Self.fallback(to: page) }
            throw APIError.unknownCode
        case .rebuilding, .decide:
            throw Self.rebuilding
        case .locked:
            record(hash == nil ? 200 : 403)
            return PasswordForm.page(
                link: "\(displayHost(domain, request))/\(code)",
                problem: hash == nil ? nil : "The password has just changed; enter the new one.",
                status: hash == nil ? .ok : .forbidden)
        case .gone:
            record(410)
            if let page = store.domains.fallbacks(of: domain).expiredURL { return Self.fallback(to: page) }
            throw APIError(.gone, "gone", "this link was deleted or has expired")
        }
    }

    /// The click's attributes and the client's address (forwarded by a trusted proxy, or the
    /// socket's).
    private func clickAttributes(of request: RedirectRequest, at time: Date) -> (ClickAttributes, address: String?) {
        let address = trustedProxies.clientAddress(
            socket: request.socketAddress, forwardedFor: request.headers[.xForwardedFor])
        let attributes = ClickAttributes.of(
            userAgent: request.headers[.userAgent], referer: request.headers[.referer], address: address,
            countries: countries, clients: clients, at: time)
        return (attributes, address)
    }

    /// Publishes a visit the redirect path did not record itself (an orphan, a refused password).
    private func recordVisit(_ request: RedirectRequest, domain: String?, code: String, outcome: Int) {
        guard visits.isOn else { return }
        let time = now()
        visits.record(
            domain: domain, code: code, outcome: outcome, attributes: clickAttributes(of: request, at: time).0, at: time
        )
    }

    /// The link's redirect: its status, its campaign parameters the visitor does not set and
    /// the visitor's query (when the link forwards it) merged into the target, `Cache-Control`
    /// that lets a permanent one be kept and keeps every other from any cache (so that each
    /// click is seen), and `X-Robots-Tag: noindex` unless crawlable.
    static func redirect(
        to url: String, _ options: RedirectOptions, campaign: String, query: String?, permanentCacheSeconds: Int
    ) -> Response {
        let added = QueryForwarding.added(
            campaign: campaign, visitor: query.map { Substring($0) }, forwarding: options.forwardQuery)
        let target = added.isEmpty ? url : QueryForwarding.merge(target: url, query: added)
        var headers: HTTPFields = [
            .location: target,
            .cacheControl: options.status.isPermanent ? "public, max-age=\(permanentCacheSeconds)" : "no-store",
        ]
        if !options.crawlable { headers[Self.robotsTag] = "noindex" }
        return Response(status: .init(code: options.status.rawValue), headers: headers)
    }

    /// `X-Robots-Tag`.
    static let robotsTag = HTTPField.Name("X-Robots-Tag")!

    /// A redirect to one of a domain's fallback pages: `302`, never cached, so that a link
    /// created later at that address is reached at once.
    private static func fallback(to page: String) -> Response {
        Response(status: .found, headers: [.location: page, .cacheControl: "no-store"])
    }

    /// Most `Allow` lines a `robots.txt` lists: well under the 500 KiB search engines read.
    static let maximumCrawlableLinks = 10_000

    /// `GET /robots.txt` for the request's domain: every crawlable link allowed (`Allow:
    /// /<code>$`, the code alone), everything else disallowed. Each domain's file is read from
    /// Redis at most once per ``RobotsFiles/lifetime``, however many ask.
    private func robots(_ request: Request) async throws -> Response {
        let resolution = store.domains.resolve(hostHeader: request.head.authority)
        let name: String? = if case .domain(let domain) = resolution { domain ?? "" } else { nil }
        let body: ByteBuffer
        if let name, let cached = robotsFiles.file(of: name) {
            body = cached
        } else {
            var lines = ["User-agent: *"]
            if let name {
                do {
                    let codes = try await store.crawlableCodes(
                        of: name.isEmpty ? nil : name, limit: Self.maximumCrawlableLinks)
                    lines += codes.sorted().map { "Allow: /\($0)$" }
                } catch let open as CircuitOpenError {
                    throw APIError.unavailable(open)
                }
            }
            lines.append("Disallow: /")
            body = ByteBuffer(string: lines.joined(separator: "\n") + "\n")
            if let name { robotsFiles.keep(body, for: name) }
        }
        return Response(
            status: .ok, headers: [.contentType: "text/plain; charset=utf-8", .cacheControl: "max-age=300"],
            body: ResponseBody(byteBuffer: body))
    }

    private static let nothingAtRoot = APIError(.notFound, "not_found", "nothing here; short links live at /<code>")

    private static let rebuilding = APIError.unavailable("this replica is still loading its links; try again")

    /// The form again, as `503` with `Retry-After: 1`: the password checks are at their bound.
    private static func busyChecking(_ link: String) -> Response {
        var busy = PasswordForm.page(
            link: link, problem: "Too many passwords are being checked; try again in a moment.",
            status: .serviceUnavailable)
        busy.headers[.retryAfter] = "1"
        return busy
    }
}

/// The `robots.txt` of each domain (by stored name), kept for ``lifetime`` so that a flood of
/// requests for it costs Redis one read per domain and lifetime.
final class RobotsFiles: Sendable {
    /// How long a file is served before it is read again.
    static let lifetime = Duration.seconds(2)
    /// Most domains kept; past it the files are dropped and read again.
    static let maximumDomains = 1000

    private let files = NIOLockedValueBox<[String: (body: ByteBuffer, read: ContinuousClock.Instant)]>([:])

    /// The domain's file, if one was read within the lifetime.
    func file(of domain: String) -> ByteBuffer? {
        files.withLockedValue { files in
            files[domain].flatMap { ContinuousClock.now - $0.read < Self.lifetime ? $0.body : nil }
        }
    }

    /// Keeps the domain's file as just read.
    func keep(_ body: ByteBuffer, for domain: String) {
        files.withLockedValue { files in
            if files.count >= Self.maximumDomains { files.removeAll() }
            files[domain] = (body, ContinuousClock.now)
        }
    }
}

/// The routing of links visited lately, with the revision it belongs to, so that a routed link
/// is decided before its one Redis call; a link changed since costs one more call. Starts over
/// when ``capacity`` links, or ``maximumBytes`` of their routing as JSON, are kept: links full of
/// rules cannot grow a replica's memory without bound.
final class RoutingCache: Sendable {
    private struct State {
        var routings: [String: (revision: Int64, routing: CompiledRouting, bytes: Int)] = [:]
        var bytes = 0
    }

    private let state = NIOLockedValueBox(State())
    /// Links kept.
    let capacity: Int
    /// Bytes of routing JSON kept (the parsed routing takes a few times as much).
    let maximumBytes: Int

    init(capacity: Int = 10_000, maximumBytes: Int = 16 << 20) {
        self.capacity = capacity
        self.maximumBytes = maximumBytes
    }

    /// The routing kept for a link key, if any, compiled.
    func routing(of key: String) -> (revision: Int64, routing: CompiledRouting)? {
        state.withLockedValue { $0.routings[key].map { ($0.revision, $0.routing) } }
    }

    /// Keeps a link's routing of `revision`, compiled, and returns it; a link without routing
    /// is forgotten (nil).
    @discardableResult
    func keep(_ routing: LinkRouting, revision: Int64, for key: String) -> CompiledRouting? {
        let compiled = routing.isEmpty ? nil : CompiledRouting(routing)
        let bytes = routing.isEmpty ? 0 : routing.json.count
        state.withLockedValue { state in
            if let earlier = state.routings.removeValue(forKey: key) { state.bytes -= earlier.bytes }
            guard let compiled else { return }
            if state.routings.count >= capacity || state.bytes + bytes > maximumBytes {
                state.routings.removeAll(keepingCapacity: true)
                state.bytes = 0
            }
            state.routings[key] = (revision, compiled, bytes)
            state.bytes += bytes
        }
        return compiled
    }

    /// Links and bytes kept now.
    var size: (links: Int, bytes: Int) { state.withLockedValue { ($0.routings.count, $0.bytes) } }
}

/// The first-party cookie that keeps a visitor on one variant of a split: a random id (no
/// personal data), set on the short domain the first time a split decides a visit.
enum SplitCookie {
    /// The cookie's name.
    static let name = "sv"

    /// The visitor's id from `Cookie` headers, or a new random one (`isNew`).
    static func visitorID(in cookies: [String]) -> (id: String, isNew: Bool) {
        for header in cookies {
            for pair in header.split(separator: ";") {
                let trimmed = pair.trimmingCharacters(in: .whitespaces)
                guard trimmed.hasPrefix(name + "=") else { continue }
                let value = trimmed.dropFirst(name.count + 1)
                if value.utf8.count == 16,
                    value.utf8.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) })
                {
                    return (String(value), false)
                }
            }
        }
        return (String(format: "%016llx", UInt64.random(in: .min ... .max)), true)
    }

    /// `Set-Cookie` for `id`: a year, the whole short domain, not for scripts, `SameSite=Lax`.
    static func header(for id: String) -> String {
        "\(name)=\(id); Max-Age=31536000; Path=/; HttpOnly; SameSite=Lax"
    }
}

/// What the redirect path reads of a request: its head, the code its path names, its query and
/// the client's socket address; the same whether the router or the fast path has it.
struct RedirectRequest: Sendable {
    let head: HTTPRequest
    /// The path without its query.
    let path: Substring
    /// The path's one segment after `/` (ill-formed ones too: they are recorded as orphans).
    let code: String
    let query: String?
    /// The address of the socket's peer (a proxy's, when one forwards).
    let socketAddress: String?

    var headers: HTTPFields { head.headerFields }

    /// The router's request (`code` empty on a route without one).
    init(_ request: Request, _ context: AppRequestContext) {
        head = request.head
        path = Substring(request.uri.path)
        code = context.parameters.get("code") ?? ""
        query = request.uri.query
        socketAddress = context.remoteAddress
    }

    /// A request head as the fast path reads it; nil unless its path is `/` and one segment.
    init?(head: HTTPRequest, socketAddress: String?) {
        guard let target = head.path, let (path, query) = Self.split(target) else { return nil }
        self.head = head
        self.path = path
        code = String(path.dropFirst())
        self.query = query.map(String.init)
        self.socketAddress = socketAddress
    }

    /// A request target's path, when it is `/` and one segment, and its query (without a
    /// fragment); bytes compared, no Foundation searches: this runs for every request.
    static func split(_ target: String) -> (path: Substring, query: Substring?)? {
        let bytes = target.utf8
        guard bytes.first == UInt8(ascii: "/") else { return nil }
        let end = bytes.firstIndex { $0 == UInt8(ascii: "?") || $0 == UInt8(ascii: "#") } ?? bytes.endIndex
        guard !bytes[bytes.index(after: bytes.startIndex)..<end].contains(UInt8(ascii: "/")) else { return nil }
        guard end < bytes.endIndex, bytes[end] == UInt8(ascii: "?") else { return (target[..<end], nil) }
        let rest = target[bytes.index(after: end)...]
        return (target[..<end], rest.utf8.firstIndex(of: UInt8(ascii: "#")).map { rest[..<$0] } ?? rest)
    }
}
