import Foundation
import Hummingbird
import SharedService

/// `GET /api/links/<code>/qr?format=svg|png&size=<px>&margin=<modules>&level=L|M|Q|H`: the link's
/// short URL as a QR code, behind the `/api` group's key check.
struct QRCodeController: Sendable {
    let repository: any LinkRepository
    /// Base of the short URLs, as in the create answers.
    /// The domains, for `?domain=` and the short URL drawn.
    let domains: ShortDomains
    /// Where the images are drawn: off the event loops, a bounded number at a time.
    var renderer = QRCodeRenderer()

    /// Image formats.
    enum Format: String, CaseIterable {
        case svg, png
    }

    /// Pixels per side: the range, and the default.
    static let sizes = 32...2048
    static let defaultSize = 256
    /// Light modules of quiet zone on each side: the range, and the default (the standard's 4).
    static let margins = 0...16
    static let defaultMargin = 4

    /// The route, for the `/api` group.
    var routes: RouteCollection<AppRequestContext> {
        RouteCollection(context: AppRequestContext.self).get("links/:code/qr") { request, context in
            try await image(request, context: context)
        }
    }

    private func image(_ request: Request, context: AppRequestContext) async throws -> Response {
        let address = try context.linkAddress(request, domains: domains)
        let query = request.uri.queryParameters
        let format = try Self.choice(query.get("format"), name: "format", default: Format.svg)
        let level = try Self.choice(query.get("level"), name: "level", default: QRCode.CorrectionLevel.medium)
        let size = try Self.integer(query.get("size"), name: "size", in: Self.sizes, default: Self.defaultSize)
        let margin = try Self.integer(
            query.get("margin"), name: "margin", in: Self.margins, default: Self.defaultMargin)
        guard try await repository.creationTime(of: address) != nil else { throw APIError.unknownCode }
        let qrCode: QRCode
        do {
            qrCode = try QRCode(encoding: domains.shortURL(address), level: level)
        } catch {
            // A short URL is far below the 2953 bytes of a version-40 code; only a broken
            // library gets here.
            throw APIError(.internalServerError, "qr_failed", "the QR code could not be encoded (\(error))")
        }
        guard let layout = QRCode.Layout(width: qrCode.width, size: size, margin: margin) else {
            throw APIError(
                .badRequest, "invalid_size",
                "'size' must be at least \(qrCode.minimumSize(margin: margin)) px for this code with margin \(margin)",
                field: "size")
        }
        var headers: HTTPFields = [.cacheControl: "private, max-age=3600"]
        headers[.contentType] = format == .svg ? "image/svg+xml" : "image/png"
        let body = try await renderer.render { () throws(APIError) -> ByteBuffer in
            switch format {
            case .svg:
                return ByteBuffer(string: qrCode.svg(size: size, margin: margin))
            case .png:
                do throws(QRCode.PNGError) {
                    return ByteBuffer(bytes: try qrCode.png(layout: layout))
                } catch {
                    throw APIError(.internalServerError, "qr_failed", "the PNG could not be written: \(error.message)")
                }
            }
        }
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: body))
    }

    private static func choice<Choice: RawRepresentable & CaseIterable>(
        _ text: String?, name: String, default fallback: Choice
    ) throws -> Choice where Choice.RawValue == String {
        guard let text else { return fallback }
        guard let choice = Choice(rawValue: text) else {
            let names = Choice.allCases.map(\.rawValue).joined(separator: ", ")
            throw APIError(.badRequest, "invalid_\(name)", "'\(name)' must be one of \(names)", field: name)
        }
        return choice
    }

    private static func integer(_ text: String?, name: String, in range: ClosedRange<Int>, default fallback: Int)
        throws -> Int
    {
        guard let text else { return fallback }
        guard text.utf8.count <= 6, text.utf8.allSatisfy({ (0x30...0x39).contains($0) }), let value = Int(text),
            range.contains(value)
        else {
            throw APIError(
                .badRequest, "invalid_\(name)",
                "'\(name)' must be a whole number from \(range.lowerBound) to \(range.upperBound)", field: name)
        }
        return value
    }
}
