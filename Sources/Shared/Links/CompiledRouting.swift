import Foundation

/// A ``LinkRouting`` made ready to decide many visits, as a replica keeps it: each rule's
/// conditions in a class of their own (a visit reads them in place; copying every rule's
/// arrays was most of a decision's cost), the client families as bit masks, the countries as a
/// set. ``LinkRouting/decision(for:)`` decides through it too: one way of matching.
public final class CompiledRouting: Sendable {
    /// The routing as written.
    public let routing: LinkRouting
    /// Whether any rule or split needs the visitor's A/B bucket.
    public let hasSplit: Bool
    private let conditions: [Conditions]

    public init(_ routing: LinkRouting) {
        self.routing = routing
        hasSplit = routing.hasSplit
        conditions = routing.rules.map { Conditions($0.when) }
    }

    /// Where `visitor` goes: the first rule whose conditions all hold, else the link's own split
    /// or `url`.
    public func decision(for visitor: RouteVisitor) -> LinkRouting.Decision {
        let families = Families(visitor)
        for index in conditions.indices where conditions[index].hold(for: visitor, families) {
            let rule = routing.rules[index]
            if let url = rule.url { return LinkRouting.Decision(rule: index + 1, target: url) }
            if let split = rule.split {
                let (variant, url) = WeightedTarget.pick(split, bucket: visitor.bucket)
                return LinkRouting.Decision(rule: index + 1, variant: variant, target: url)
            }
        }
        if let split = routing.split {
            let (variant, url) = WeightedTarget.pick(split, bucket: visitor.bucket)
            return LinkRouting.Decision(variant: variant, target: url)
        }
        return LinkRouting.Decision()
    }

    /// The visitor's device, OS and browser as one bit each of ``ClientFamilies``' lists (none
    /// for a family the lists do not name, which no condition then matches).
    struct Families {
        let device: UInt16
        let os: UInt16
        let browser: UInt16

        init(_ visitor: RouteVisitor) {
            device = Conditions.bit(of: visitor.device, in: ClientFamilies.devices)
            os = Conditions.bit(of: visitor.os, in: ClientFamilies.systems)
            browser = Conditions.bit(of: visitor.browser, in: ClientFamilies.browsers)
        }
    }

    /// One rule's conditions, each nil when the rule does not ask.
    final class Conditions: Sendable {
        let after: Date?
        let before: Date?
        let devices: UInt16?
        let systems: UInt16?
        let browsers: UInt16?
        let countries: Set<String>?
        let languages: [String]?
        let query: [String]?
        let networks: [IPNetwork]?

        init(_ when: RuleConditions) {
            after = when.after
            before = when.before
            devices = when.device.map { Self.mask(of: $0, in: ClientFamilies.devices) }
            systems = when.os.map { Self.mask(of: $0, in: ClientFamilies.systems) }
            browsers = when.browser.map { Self.mask(of: $0, in: ClientFamilies.browsers) }
            countries = when.country.map(Set.init)
            languages = when.language
            query = when.query
            networks = when.ip
        }

        static func bit(of value: String, in family: [String]) -> UInt16 {
            family.firstIndex(of: value).map { 1 << UInt16($0) } ?? 0
        }

        static func mask(of values: [String], in family: [String]) -> UInt16 {
            values.reduce(0) { $0 | bit(of: $1, in: family) }
        }

        func hold(for visitor: RouteVisitor, _ families: Families) -> Bool {
            if let after, visitor.now < after { return false }
            if let before, visitor.now >= before { return false }
            if let devices, devices & families.device == 0 { return false }
            if let systems, systems & families.os == 0 { return false }
            if let browsers, browsers & families.browser == 0 { return false }
            if let countries, !countries.contains(visitor.country) { return false }
            if let languages {
                let accepted = visitor.languages
                guard
                    languages.contains(where: { wanted in
                        accepted.contains {
                            $0 == wanted || ($0.hasPrefix(wanted) && $0.dropFirst(wanted.count).first == "-")
                        }
                    })
                else { return false }
            }
            if let query {
                let parameters = visitor.queryParameters
                guard
                    query.contains(where: { wanted in
                        guard let equals = wanted.firstIndex(of: "=") else {
                            return parameters.contains { $0.name == wanted }
                        }
                        let name = wanted[..<equals]
                        let value = wanted[wanted.index(after: equals)...]
                        return parameters.contains { $0.name == name && $0.value == value }
                    })
                else { return false }
            }
            if let networks {
                guard let address = visitor.address, networks.contains(where: { $0.contains(address) }) else {
                    return false
                }
            }
            return true
        }
    }
}
