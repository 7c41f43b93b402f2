import Foundation
import HTTPTypes
import Hummingbird
import SharedService

/// The page a password-protected link answers with: a small HTML form (no script, no style,
/// nothing from elsewhere) naming the short link, never its target, posted back to the same
/// address.
enum PasswordForm {
    /// What the page may do: load nothing, run nothing, be framed by no one. No `form-action`:
    /// browsers hold the form's redirect to it too, and the right password's `303` goes to the
    /// link's target, on another site.
    static let contentSecurityPolicy = "default-src 'none'; base-uri 'none'; frame-ancestors 'none'"

    /// The form for `link` (`host/code`), with `problem` above it when there is one.
    static func page(link: String, problem: String?, status: HTTPResponse.Status) -> Response {
        let alert = problem.map { #"<p role="alert"><strong>\#(escaped($0))</strong></p>"# } ?? ""
        let html = """
            <!doctype html>
            <html lang="en">
            <head>
            <meta charset="utf-8">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <meta name="robots" content="noindex">
            <title>Protected link</title>
            </head>
            <body>
            <h1>\(escaped(link))</h1>
            <p>This link is protected by a password.</p>
            \(alert)
            <form method="post">
            <label for="password">Password</label>
            <input id="password" name="password" type="password" required maxlength="128" autocomplete="current-password" autofocus>
            <button type="submit">Open</button>
            </form>
            </body>
            </html>

            """
        return Response(
            status: status,
            headers: [
                .contentType: "text/html; charset=utf-8", .cacheControl: "no-store",
                .contentSecurityPolicy: contentSecurityPolicy, .xContentTypeOptions: "nosniff",
                .referrerPolicy: "no-referrer", RedirectController.robotsTag: "noindex",
            ],
            body: ResponseBody(byteBuffer: ByteBuffer(string: html)))
    }

    /// `text` with the characters HTML gives meaning escaped.
    static func escaped(_ text: String) -> String {
        var escaped = ""
        for character in text {
            switch character {
            case "&": escaped += "&amp;"
            case "<": escaped += "&lt;"
            case ">": escaped += "&gt;"
            case "\"": escaped += "&quot;"
            case "'": escaped += "&#39;"
            default: escaped.append(character)
            }
        }
        return escaped
    }

    /// The `password` field of a form post: `415` unless sent as
    /// `application/x-www-form-urlencoded`, `413` past `limit` bytes, `400` without it.
    static func password(in request: Request, limit: Int) async throws -> String {
        let body = try await RequestBodies.collect(request, as: "application/x-www-form-urlencoded", limit: limit)
        for pair in String(buffer: body).split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard parts.count == 2, parts[0] == "password" else { continue }
            let spaced = parts[1].replacing("+", with: " ")
            if let password = String(spaced).removingPercentEncoding { return password }
        }
        throw APIError(.badRequest, "missing_password", "the form must have a field 'password'", field: "password")
    }
}
