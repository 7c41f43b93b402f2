import HTTPTypes
import NIOCore
import SharedLinks
import SharedService

/// `GET /<code>` answered ahead of the router: a request whose path is one well-formed code goes
/// through ``RedirectController``'s own redirect path (domains, rules, splits, query forwarding,
/// the click, the visit event), without the router, its middleware or a request context. A
/// failed link store is answered here too (`503`), since the router would only wait for it
/// again; any other outcome (unknown, gone, locked, a fallback page) is handed to the router,
/// which answers it as it always has.
struct FastRedirects: FastPathResponder {
    let controller: RedirectController

    var route: String { "/{code}" }

    func accepts(_ head: HTTPRequest) -> Bool {
        guard head.method == .get, let target = head.path, let (path, _) = RedirectRequest.split(target) else {
            return false
        }
        let code = path.dropFirst()
        // `/metrics` is the router's own route, not a link (the master refuses it as an alias).
        return ShortCode.isWellFormed(code) && code != "metrics"
    }

    func respond(to head: HTTPRequest, remoteAddress: SocketAddress?) async -> FastPathAnswer? {
        guard let request = RedirectRequest(head: head, socketAddress: remoteAddress?.ipAddress) else { return nil }
        return await controller.fastRedirect(request)
    }
}
