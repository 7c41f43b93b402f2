import Foundation
import HTTPTypes
import Hummingbird
import SharedService

/// The web app at `/` (its page) and `/app/<file>` (its modules, styles and images), from
/// ``WebAssets``. Every answer revalidates (`Cache-Control: no-cache` with an `ETag`, `304` when
/// it matches), so a new version shows at the next load without hashed file names. Pages carry a
/// strict Content-Security-Policy: scripts, styles and requests from this origin only, no inline
/// script, no framing.
struct WebAppController: Sendable {
    let assets: WebAssets

    /// The policy of every answer: the app needs its own origin, plus `blob:` images for the QR
    /// code it fetches with the key and `data:` for the empty favicon.
    static let contentSecurityPolicy =
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; connect-src 'self'; "
        + "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

    /// The routes, at the root.
    var routes: RouteCollection<AppRequestContext> {
        let routes = RouteCollection(context: AppRequestContext.self)
        routes.get("/") { request, _ in
            answer(assets.files["index.html"], to: request)
        }
        routes.get("app/:file") { request, context in
            answer(context.parameters.get("file").flatMap { assets.files[$0] }, to: request)
        }
        return routes
    }

    private func answer(_ asset: WebAssets.Asset?, to request: Request) -> Response {
        var headers: HTTPFields = [
            .contentSecurityPolicy: Self.contentSecurityPolicy, .xContentTypeOptions: "nosniff",
            .referrerPolicy: "no-referrer", .cacheControl: "no-cache",
        ]
        guard let asset else {
            headers[.contentType] = "text/plain; charset=utf-8"
            return Response(
                status: .notFound, headers: headers, body: .init(byteBuffer: ByteBuffer(string: "not found\n")))
        }
        headers[.eTag] = asset.etag
        if let tags = request.headers[.ifNoneMatch],
            tags.split(separator: ",").contains(where: { $0.trimmingCharacters(in: .whitespaces) == asset.etag })
        {
            return Response(status: .notModified, headers: headers)
        }
        headers[.contentType] = asset.contentType
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: asset.bytes)))
    }
}
