/// The `<title>` of an HTML page, as a link's title: read from the page's first bytes (the
/// fetch stops at 256 KiB), character references decoded, white space collapsed, control
/// characters dropped, and cut to ``LinkRequest/maximumTitleLength`` characters. A page without
/// a complete, non-empty title has none.
enum HTMLTitle {
    /// The title in `html`, or nil.
    static func extract(from html: [UInt8]) -> String? {
        guard let open = find(Array("<title".utf8), in: html, from: 0) else { return nil }
        // `<title>` or `<title lang="en">`, never `<titles>`.
        var index = open + 6
        guard index < html.count, html[index] == UInt8(ascii: ">") || isSpace(html[index]) else { return nil }
        while index < html.count, html[index] != UInt8(ascii: ">") { index += 1 }
        guard index < html.count else { return nil }
        let start = index + 1
        guard let end = find(Array("</title".utf8), in: html, from: start) else { return nil }
        let text = decodeReferences(String(decoding: html[start..<end], as: UTF8.self))
        var title = ""
        var pendingSpace = false
        for scalar in text.unicodeScalars {
            if scalar.properties.isWhitespace || scalar.value < 0x20 || scalar.value == 0x7F
                || (0x80...0x9F).contains(scalar.value)
            {
                pendingSpace = !title.isEmpty
                continue
            }
            if pendingSpace { title.unicodeScalars.append(" ") }
            pendingSpace = false
            title.unicodeScalars.append(scalar)
        }
        guard !title.isEmpty else { return nil }
        return title.count > LinkRequest.maximumTitleLength
            ? String(title.prefix(LinkRequest.maximumTitleLength - 1)) + "…" : title
    }

    /// Where `needle` (lower-case ASCII) first occurs in `haystack` at or after `start`,
    /// ignoring ASCII case.
    private static func find(_ needle: [UInt8], in haystack: [UInt8], from start: Int) -> Int? {
        guard haystack.count >= needle.count, start <= haystack.count - needle.count else { return nil }
        outer: for index in start...(haystack.count - needle.count) {
            for offset in 0..<needle.count {
                let byte = haystack[index + offset]
                let lower = (0x41...0x5A).contains(byte) ? byte | 0x20 : byte
                if lower != needle[offset] { continue outer }
            }
            return index
        }
        return nil
    }

    private static func isSpace(_ byte: UInt8) -> Bool {
        byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D || byte == 0x0C
    }

    /// The named references a title commonly carries.
    private static let named: [Substring: String] = [
        "amp": "&", "lt": "<", "gt": ">", "quot": "\"", "apos": "'", "nbsp": " ", "ndash": "–", "mdash": "—",
        "hellip": "…", "laquo": "«", "raquo": "»", "copy": "©", "reg": "®", "trade": "™", "middot": "·",
        "lsquo": "‘", "rsquo": "’", "ldquo": "“", "rdquo": "”", "bull": "•",
    ]

    /// `text` with `&name;`, `&#NNN;` and `&#xHH;` replaced by their characters; an unknown or
    /// malformed reference, or one naming no valid scalar, stays as written.
    static func decodeReferences(_ text: String) -> String {
        guard text.contains("&") else { return text }
        var result = ""
        var rest = Substring(text)
        while let ampersand = rest.firstIndex(of: "&") {
            result += rest[..<ampersand]
            let afterAmpersand = rest.index(after: ampersand)
            guard let semicolon = rest[afterAmpersand...].prefix(12).firstIndex(of: ";") else {
                result += "&"
                rest = rest[afterAmpersand...]
                continue
            }
            let name = rest[afterAmpersand..<semicolon]
            if let character = reference(name) {
                result += character
                rest = rest[rest.index(after: semicolon)...]
            } else {
                result += "&"
                rest = rest[afterAmpersand...]
            }
        }
        return result + rest
    }

    private static func reference(_ name: Substring) -> String? {
        if let named = named[name] { return named }
        guard name.first == "#" else { return nil }
        let digits = name.dropFirst()
        let value =
            digits.first == "x" || digits.first == "X"
            ? UInt32(digits.dropFirst(), radix: 16) : UInt32(digits, radix: 10)
        guard let value, value != 0, let scalar = Unicode.Scalar(value) else { return nil }
        return String(Character(scalar))
    }
}
