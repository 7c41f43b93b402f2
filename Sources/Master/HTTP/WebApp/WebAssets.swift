import Crypto
import Foundation

/// The web app's files (`web/`: HTML, ES modules, CSS, images), read once at start and served
/// from memory, each with a strong `ETag` from its content. No build step: the files are what
/// the browser runs.
struct WebAssets: Sendable {
    /// One file.
    struct Asset: Sendable {
        let bytes: [UInt8]
        let contentType: String
        /// `"<first 16 bytes of SHA-256, hex>"`, quotes included.
        let etag: String
    }

    /// File name → asset; only names ``isServable(_:)`` allows.
    let files: [String: Asset]

    /// Content types of the extensions served; other files in the folder are left out.
    static let contentTypes = [
        "html": "text/html; charset=utf-8", "js": "text/javascript; charset=utf-8", "css": "text/css; charset=utf-8",
        "svg": "image/svg+xml", "png": "image/png",
    ]

    /// Reads the files of `directory` (not its subfolders). Fails when the folder is missing or
    /// has no `index.html`: a master that serves no app should say so at start.
    init(directory: String) throws {
        var files: [String: Asset] = [:]
        let url = URL(fileURLWithPath: directory, isDirectory: true)
        for name in try FileManager.default.contentsOfDirectory(atPath: directory) {
            guard let type = Self.contentType(ofServable: name) else { continue }
            let bytes = Array(try Data(contentsOf: url.appendingPathComponent(name)))
            let digest = SHA256.hash(data: bytes).prefix(16).map { String(format: "%02x", $0) }.joined()
            files[name] = Asset(bytes: bytes, contentType: type, etag: "\"\(digest)\"")
        }
        guard files["index.html"] != nil else { throw MissingIndex(directory: directory) }
        self.files = files
    }

    /// The folder has no `index.html`.
    struct MissingIndex: Error, CustomStringConvertible {
        let directory: String
        var description: String { "no index.html in the web app folder \(directory) (--web-dir)" }
    }

    /// The content type of `name` if the app may serve a file of that name: lower-case letters,
    /// digits and dashes, one dot, a known extension. Nothing else can name a file (no `..`,
    /// no hidden files); nil otherwise.
    static func contentType(ofServable name: String) -> String? {
        let parts = name.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty, parts[0].count <= 64,
            parts[0].utf8.allSatisfy({ (0x61...0x7A).contains($0) || (0x30...0x39).contains($0) || $0 == 0x2D })
        else { return nil }
        return contentTypes[String(parts[1])]
    }
}
