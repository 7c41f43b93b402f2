import Foundation

/// What logs may show of values that can carry secrets.
enum LogRedaction {
    /// Words that make a query parameter secret when its name is one of them or ends with one
    /// as a separate word (`api_key`, `x-amz-signature`, `accessToken`; not `monkey`).
    static let secretWords = [
        "token", "key", "secret", "password", "passwd", "pwd", "auth", "signature", "sig", "session", "credential",
    ]

    /// Whether the parameter `name` looks like it carries a secret.
    static func isSecret(parameter name: String) -> Bool {
        let lowered = name.lowercased()
        return secretWords.contains { word in
            guard lowered.hasSuffix(word) else { return false }
            let start = name.index(name.endIndex, offsetBy: -word.count)
            guard start != name.startIndex else { return true }
            let before = name[name.index(before: start)]
            return !(before.isLetter || before.isNumber) || name[start].isUppercase
        }
    }

    /// `url` with its user and password replaced by `***`, and the values of query parameters
    /// that look like secrets (`token`, `api_key`, `signature`, …) too. Text that is not a URL
    /// is returned as it is.
    static func url(_ url: String) -> String {
        guard var components = URLComponents(string: url), components.host != nil else { return url }
        var changed = false
        if components.user != nil || components.password != nil {
            components.user = "***"
            components.password = nil
            changed = true
        }
        if let items = components.queryItems {
            components.queryItems = items.map { item in
                guard item.value != nil, isSecret(parameter: item.name) else { return item }
                changed = true
                return URLQueryItem(name: item.name, value: "***")
            }
        }
        return changed ? (components.string ?? url) : url
    }

    /// Only the scheme, host and port of `url` (`https://hooks.example.com/…`), for URLs whose
    /// path itself may be a secret, such as webhook receivers'.
    static func origin(_ url: String) -> String {
        guard let components = URLComponents(string: url), let scheme = components.scheme, let host = components.host
        else { return "<not a URL>" }
        return "\(scheme)://\(host)\(components.port.map { ":\($0)" } ?? "")/…"
    }
}
