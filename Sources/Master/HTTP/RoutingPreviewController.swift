import Foundation
import Hummingbird
import SharedJSON
import SharedLinks
import SharedService

/// `POST /api/routing/preview`, in the `/api` group behind the key check: where a described
/// visitor would go through a link's rules and split, saved or not, decided by the same code
/// the replicas run (``LinkRouting/decision(for:)``). The web app's editor shows it as "a
/// visitor on an iPhone in Germany goes to …".
struct RoutingPreviewController: Sendable {
    /// Largest body accepted: a link's rules, as on create.
    static let maximumBodySize = CreateLinkController.maximumBodySize

    /// The body: the link's target, rules and split, and the visitor.
    struct Body: Decodable {
        var url: String?
        var rules: [RedirectRule]?
        var split: [WeightedTarget]?
        var visitor: Visitor?

        enum CodingKeys: String, CodingKey, CaseIterable {
            case url, rules, split, visitor
        }

        init(from decoder: any Decoder) throws {
            try KnownFields.check(decoder, against: CodingKeys.self, subject: "a preview")
            let container = try decoder.container(keyedBy: CodingKeys.self)
            url = try container.decodeIfPresent(String.self, forKey: .url)
            rules = try LinkRequest.routingPart(field: "rules") {
                try container.decodeIfPresent([RedirectRule].self, forKey: .rules)
            }
            split = try LinkRequest.routingPart(field: "split") {
                try container.decodeIfPresent([WeightedTarget].self, forKey: .split)
            }
            visitor = try container.decodeIfPresent(Visitor.self, forKey: .visitor)
        }
    }

    /// A described visitor; every field may be left out.
    struct Visitor: Decodable {
        var device: String?
        var os: String?
        var browser: String?
        var country: String?
        /// As an `Accept-Language` header says it.
        var language: String?
        var query: String?
        var ip: String?
        /// When the visit happens (RFC 3339); now without it.
        var at: String?
        /// The visitor's A/B bucket, 0 to 99.
        var bucket: Int?

        enum CodingKeys: String, CodingKey, CaseIterable {
            case device, os, browser, country, language, query, ip, at, bucket
        }

        /// A visitor described by nothing: a desktop of no known family, country or language, now.
        init() {}

        init(from decoder: any Decoder) throws {
            try KnownFields.check(decoder, against: CodingKeys.self, subject: "a visitor")
            let container = try decoder.container(keyedBy: CodingKeys.self)
            device = try container.decodeIfPresent(String.self, forKey: .device)
            os = try container.decodeIfPresent(String.self, forKey: .os)
            browser = try container.decodeIfPresent(String.self, forKey: .browser)
            country = try container.decodeIfPresent(String.self, forKey: .country)
            language = try container.decodeIfPresent(String.self, forKey: .language)
            query = try container.decodeIfPresent(String.self, forKey: .query)
            ip = try container.decodeIfPresent(String.self, forKey: .ip)
            at = try container.decodeIfPresent(String.self, forKey: .at)
            bucket = try container.decodeIfPresent(Int.self, forKey: .bucket)
        }

        /// The visitor the rules see, each field checked: `400 invalid_visitor` naming it.
        func checked(now: Date) throws(APIError) -> RouteVisitor {
            func invalid(_ message: String) -> APIError {
                APIError(.badRequest, "invalid_visitor", "'visitor': \(message)", field: "visitor")
            }
            func family(_ value: String?, _ known: [String], _ name: String) throws(APIError) -> String {
                guard let value else { return name == "device" ? "desktop" : "other" }
                guard known.contains(value.lowercased()) else {
                    throw invalid("'\(name)' is one of \(known.joined(separator: ", "))")
                }
                return value.lowercased()
            }
            let country = country?.uppercased() ?? "unknown"
            guard
                country == "unknown"
                    || (country.utf8.count == 2 && country.utf8.allSatisfy({ $0 >= 0x41 && $0 <= 0x5A }))
            else { throw invalid("'country' is an ISO 3166 code like DE") }
            guard (language?.utf8.count ?? 0) <= 1024 else { throw invalid("'language' is at most 1024 bytes") }
            guard (query?.utf8.count ?? 0) <= 2048 else { throw invalid("'query' is at most 2048 bytes") }
            if let ip, IPNetwork.bytes(of: ip) == nil { throw invalid("'ip' is an IPv4 or IPv6 address") }
            var instant = now
            if let at {
                guard let parsed = try? RFC3339.parse(at) else { throw invalid("'at' is an RFC 3339 time") }
                instant = parsed
            }
            let bucket = bucket ?? 0
            guard (0...99).contains(bucket) else { throw invalid("'bucket' is 0 to 99") }
            return RouteVisitor(
                device: try family(device, ClientFamilies.devices, "device"),
                os: try family(os, ClientFamilies.systems, "os"),
                browser: try family(browser, ClientFamilies.browsers, "browser"), country: country,
                acceptLanguage: language, query: query?.hasPrefix("?") == true ? String(query!.dropFirst()) : query,
                address: ip, now: instant, bucket: bucket)
        }
    }

    /// The answer: the rule that held (`default`: none), the variant of a split, and the target.
    struct Answer: ResponseEncodable {
        let rule: String
        let variant: String?
        let target: String

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(rule, forKey: .rule)
            try container.encode(variant, forKey: .variant)
            try container.encode(target, forKey: .target)
        }

        enum CodingKeys: String, CodingKey {
            case rule, variant, target
        }
    }

    /// The route, for the `/api` group.
    var routes: RouteCollection<AppRequestContext> {
        RouteCollection(context: AppRequestContext.self).post("routing/preview") { request, _ in
            let (body, _) = try await JSONRequestBody.decode(
                Body.self, from: request, limit: Self.maximumBodySize,
                expected: #"a JSON object like {"url": "https://…", "rules": […], "visitor": {"device": "mobile"}}"#)
            guard let url = body.url else {
                throw APIError(.badRequest, "missing_url", "the body must have a string field 'url'", field: "url")
            }
            let target = try LinkRequest.validatedURL(url)
            let routing = try LinkRequest.validatedRouting(rules: body.rules ?? [], split: body.split)
            let visitor = try (body.visitor ?? Visitor()).checked(now: Date())
            let decision = routing.decision(for: visitor)
            return Answer(rule: decision.ruleValue, variant: decision.variantValue, target: decision.target ?? target)
        }
    }
}
