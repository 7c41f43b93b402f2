import Foundation

/// Splits a SQL file into statements at top-level semicolons, leaving semicolons inside
/// quotes, dollar-quoted bodies and comments alone (the extended protocol runs one at a time).
public enum SQLScript {
    public static func statements(_ text: String) -> [String] {
        var statements: [String] = []
        var current = ""
        var index = text.startIndex
        func rest(_ from: String.Index) -> Substring { text[from...] }
        while index < text.endIndex {
            let character = text[index]
            if character == "-", rest(index).hasPrefix("--") {
                let end = text[index...].firstIndex(of: "\n") ?? text.endIndex
                index = end
                continue
            }
            if character == "'" || character == "\"" {
                let end = closingIndex(of: character, in: text, after: index)
                current += text[index..<end]
                index = end
                continue
            }
            if character == "$", let tagEnd = text[text.index(after: index)...].firstIndex(of: "$"),
                text[text.index(after: index)..<tagEnd].allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" })
            {
                let tag = String(text[index...tagEnd])
                let bodyStart = text.index(after: tagEnd)
                let end = text[bodyStart...].range(of: tag)?.upperBound ?? text.endIndex
                current += text[index..<end]
                index = end
                continue
            }
            if character == ";" {
                append(current, to: &statements)
                current = ""
            } else {
                current.append(character)
            }
            index = text.index(after: index)
        }
        append(current, to: &statements)
        return statements
    }

    private static func closingIndex(of quote: Character, in text: String, after start: String.Index) -> String.Index {
        var index = text.index(after: start)
        while index < text.endIndex {
            if text[index] == quote {
                let next = text.index(after: index)
                // A doubled quote is an escaped quote inside the literal.
                if next < text.endIndex, text[next] == quote { index = text.index(after: next); continue }
                return next
            }
            index = text.index(after: index)
        }
        return text.endIndex
    }

    private static func append(_ statement: String, to statements: inout [String]) {
        let trimmed = statement.trimmingCharacters(in: .whitespacesAndNewlines)
        if !trimmed.isEmpty { statements.append(trimmed) }
    }
}
