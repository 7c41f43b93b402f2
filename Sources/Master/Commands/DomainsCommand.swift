import ArgumentParser
import Foundation
import Logging
import PostgresNIO
import SharedConfiguration
import SharedJSON
import SharedLinks
import SharedPostgres
import SharedResilience
import SharedService

/// `master domains list|add|set|remove`: the short domains, as `/api/domains` manages them.
struct DomainsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "domains",
        abstract: "List, add, change or remove the short domains links are served on.",
        subcommands: [List.self, Add.self, SetFallbacks.self, Remove.self])

    /// Runs `work` with the domains of the configured database.
    static func withRepository<Value: Sendable>(
        common: CommonOptions, postgres: PostgresOptions,
        _ work: @Sendable (PostgresDomainRepository) async throws -> Value
    ) async throws -> Value {
        let logger = try Observability.bootstrap(service: "domains", options: common)
        let namespace = try common.resolvedNamespace()
        return try await PostgresClient.withRunning(
            try postgres.clientConfiguration(namespace: namespace), logger: logger
        ) { client in
            try await work(
                PostgresDomainRepository(
                    client: client, breaker: .postgres(settings: try postgres.breakerSettings(), logger: logger),
                    logger: logger))
        }
    }

    /// A domain named on the command line, in its stored form; the default domain has none.
    static func storedName(_ text: String) throws -> String {
        do {
            return try DomainName.normalized(text)
        } catch {
            throw ValidationError(error.message)
        }
    }

    /// The fallback pages given on the command line: a URL sets one, `none` removes it.
    struct Fallbacks: ParsableArguments {
        @Option(help: "Where the domain's root (/) redirects; 'none' removes it.") var rootURL: String?
        @Option(help: "Where an unknown code redirects; 'none' removes it.") var notFoundURL: String?
        @Option(help: "Where an expired, deleted or used-up link redirects; 'none' removes it.") var expiredURL: String?

        /// The change, each URL checked like a link's target.
        func change() throws -> DomainFallbacks {
            func field(_ text: String?, _ name: String) throws -> FieldChange<String> {
                guard let text else { return .keep }
                if text == "none" { return .clear }
                do {
                    return .set(try LinkRequest.validatedURL(text))
                } catch {
                    throw ValidationError("--\(name): \(error.message)")
                }
            }
            return DomainFallbacks(
                rootURL: try field(rootURL, "root-url"), notFoundURL: try field(notFoundURL, "not-found-url"),
                expiredURL: try field(expiredURL, "expired-url"))
        }
    }

    /// `master domains list`
    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the domains, the default one first.")

        @OptionGroup var common: CommonOptions
        @OptionGroup var postgres: PostgresOptions

        func run() async throws {
            let domains = try await DomainsCommand.withRepository(common: common, postgres: postgres) {
                try await $0.list()
            }
            print(
                TextTable(
                    headers: ["domain", "links", "root", "not found", "expired", "added"],
                    rows: domains.map {
                        [
                            $0.name.isEmpty ? "(default)" : $0.name, String($0.links), $0.rootURL ?? "-",
                            $0.notFoundURL ?? "-", $0.expiredURL ?? "-", RFC3339.format($0.createdAt),
                        ]
                    }
                ).rendered)
        }
    }

    /// `master domains add`
    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Add a domain, with its fallback pages if given.")

        @OptionGroup var common: CommonOptions
        @OptionGroup var postgres: PostgresOptions
        @OptionGroup var fallbacks: Fallbacks

        @Argument(help: "The host name, e.g. go.acme.com.") var name: String

        func run() async throws {
            let (name, change) = (try DomainsCommand.storedName(self.name), try fallbacks.change())
            guard
                try await DomainsCommand.withRepository(
                    common: common, postgres: postgres, { try await $0.add(name, fallbacks: change) }) != nil
            else { throw ValidationError("the domain '\(name)' exists already") }
            print("Added \(name).")
        }
    }

    /// `master domains set`
    struct SetFallbacks: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "set",
            abstract: "Change a domain's fallback pages ('default' names the default domain).")

        @OptionGroup var common: CommonOptions
        @OptionGroup var postgres: PostgresOptions
        @OptionGroup var fallbacks: Fallbacks

        @Argument(help: "The host name, or 'default'.") var name: String

        func run() async throws {
            let name = self.name == "default" ? "" : try DomainsCommand.storedName(self.name)
            let change = try fallbacks.change()
            guard change != DomainFallbacks() else {
                throw ValidationError("give at least one of --root-url, --not-found-url, --expired-url")
            }
            guard
                try await DomainsCommand.withRepository(
                    common: common, postgres: postgres, { try await $0.update(name, fallbacks: change) }) != nil
            else { throw ValidationError("no domain '\(self.name)'") }
            print("Changed \(self.name).")
        }
    }

    /// `master domains remove`
    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Remove a domain; refused while live links use it, unless --cascade deletes them.")

        @OptionGroup var common: CommonOptions
        @OptionGroup var postgres: PostgresOptions

        @Flag(help: "Delete the domain's live links first (each announced like any delete).") var cascade = false

        @Argument(help: "The host name.") var name: String

        func run() async throws {
            let (name, cascade) = (try DomainsCommand.storedName(self.name), self.cascade)
            let outcome = try await DomainsCommand.withRepository(common: common, postgres: postgres) {
                try await $0.remove(name, cascade: cascade)
            }
            switch outcome {
            case .removed(let deleted):
                print("Removed \(name)" + (deleted > 0 ? " and deleted its \(deleted) links." : "."))
            case .notFound: throw ValidationError("no domain '\(name)'")
            case .inUse(let links):
                throw ValidationError("\(links) live links use '\(name)'; delete them first, or pass --cascade")
            }
        }
    }
}
