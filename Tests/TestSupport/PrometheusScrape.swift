import Foundation

/// The samples of one `/metrics` answer (Prometheus's text format), for assertions.
public struct PrometheusScrape: Sendable {
    /// One sample: metric name, labels and value.
    public struct Sample: Sendable {
        public let name: String
        public let labels: [String: String]
        public let value: Double
    }

    public let samples: [Sample]

    /// Fetches and parses `url`.
    public static func fetch(_ url: String) async throws -> PrometheusScrape {
        let reply = try await TestHTTP.get(url)
        guard reply.status == 200 else { throw ServiceFailure("\(url) answered \(reply.status)") }
        return PrometheusScrape(text: reply.body)
    }

    public init(text: String) {
        samples = text.split(separator: "\n").compactMap { line in
            guard !line.hasPrefix("#"), let space = line.lastIndex(of: " "),
                let value = Double(line[line.index(after: space)...])
            else { return nil }
            let series = line[..<space]
            guard let brace = series.firstIndex(of: "{") else {
                return Sample(name: String(series), labels: [:], value: value)
            }
            var labels: [String: String] = [:]
            // Label values here never contain `",` or `=`, which keeps this parser simple.
            for pair in series[series.index(after: brace)..<series.index(before: series.endIndex)]
                .split(separator: ",")
            {
                let parts = pair.split(separator: "=", maxSplits: 1)
                guard parts.count == 2 else { continue }
                labels[String(parts[0])] = String(parts[1].dropFirst().dropLast())
            }
            return Sample(name: String(series[..<brace]), labels: labels, value: value)
        }
    }

    /// The sum of the samples of `name` whose labels include `labels`; nil when there is none.
    public func value(_ name: String, _ labels: [String: String] = [:]) -> Double? {
        let matching = samples.filter { sample in
            sample.name == name && labels.allSatisfy { sample.labels[$0.key] == $0.value }
        }
        return matching.isEmpty ? nil : matching.reduce(0) { $0 + $1.value }
    }

    /// The names of every metric in the scrape.
    public var names: Set<String> { Set(samples.map(\.name)) }
}
