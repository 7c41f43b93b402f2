import ArgumentParser
import Crypto
import Foundation
import Logging
import PostgresNIO
import SharedConfiguration
import SharedEvents
import SharedJSON
import SharedLinks
import SharedPostgres
import SharedResilience
import SharedService

/// `master links import|export`: links in and out as ``LinkCSV``.
struct LinksCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "links",
        abstract: "Import links from CSV, or export them as CSV.", subcommands: [ImportLinks.self, ExportLinks.self])

    /// The repository of a command's `client`. Its breaker allows each call 30 s, not a
    /// request's 2 s: a transaction of a thousand links (or a page of the export) may take
    /// seconds on a busy server, and waiting is what a batch command should do.
    static func repository(client: PostgresClient, logger: Logger) -> PostgresLinkRepository {
        var settings = CircuitBreaker.Settings()
        settings.callTimeout = .seconds(30)
        return PostgresLinkRepository(
            client: client, breaker: .postgres(settings: settings, logger: logger), logger: logger)
    }
}

/// `master links import FILE`: creates the file's links through the bulk-create path, a
/// batch per transaction, with a progress bar. Prints a summary and writes the rows that failed,
/// with their errors, to `FILE.failed.csv`. Running it twice creates nothing twice: a row is
/// keyed by a hash of its fields, and aliases are unique anyway. Reads our CSV and the exports
/// of YOURLS, Shlink and Bitly (``ImportFormat``), keeping their codes and visit counts.
struct ImportLinks: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Create links from our CSV, or a YOURLS, Shlink or Bitly export.",
        discussion: """
            Our CSV: the first row names the columns; url is required, alias, expires_at, max_clicks, \
            tags, domain, title and clicks optional, others ignored (an export's code and created_at). \
            A row's domain must have been added (master domains add); empty means the default domain. \
            Rows whose status is 'deleted' are skipped. Another shortener's export (--from, or found \
            from its header): its codes are kept as aliases and its visit counts become each link's \
            starting clicks. Exits with 1 when some rows failed; they are written to FILE.failed.csv.
            """)

    @OptionGroup var common: CommonOptions
    @OptionGroup var postgres: PostgresOptions

    /// The file to read: CSV, or Shlink's JSON list.
    @Argument(help: "The file to import: CSV, or Shlink's API JSON.")
    var file: String

    /// What wrote the file. Default: found from its header (or JSON: Shlink's).
    @Option(help: "What wrote the file: ours, yourls, shlink or bitly (default: found from its header).")
    var from: ImportFormat?

    /// Puts every row on this domain (`default`: the default domain) instead of the file's.
    @Option(help: "Put every link on this domain ('default' for the default one) instead of the file's.")
    var domain: String?

    /// Links created per transaction. Default: 1000 (the bulk API's limit).
    @Option(help: "Links created per transaction (1-1000).")
    var batchSize: Int = 1000

    func validate() throws {
        guard (1...BulkCreateController.maximumItems).contains(batchSize) else {
            throw ValidationError("--batch-size must be 1 to \(BulkCreateController.maximumItems)")
        }
    }

    func run() async throws {
        let logger = try Observability.bootstrap(service: "import", options: common)
        let namespace = try common.resolvedNamespace()
        let failedPath = Self.failedPath(for: file)
        var source = try ImportRows(path: file)
        let header = try source.next() ?? []
        let format = from ?? (source.isJSON ? .shlink : ImportFormat.detect(header: header))
        let plan = try LinkImport(header: header, format: format, domain: try domain.map(LinkImport.domainOverride))
        let total = try Self.countRecords(file) - 1
        let (file, batchSize) = (self.file, self.batchSize)
        let summary = try await PostgresClient.withRunning(
            try postgres.clientConfiguration(namespace: namespace), logger: logger
        ) { client in
            let repository = LinksCommand.repository(client: client, logger: logger)
            let domains = PostgresDomainRepository(client: client, breaker: repository.breaker, logger: logger)
            var display = ProgressDisplay(label: "Import", total: Int64(max(total, 0)), unit: "rows")
            var rows = try ImportRows(path: file)
            _ = try rows.next()
            return try await plan.run(
                reader: &rows, batchSize: batchSize, repository: repository, domains: domains,
                failedPath: failedPath
            ) { done in
                display.update(Int64(done))
            } finished: { done in
                display.finish(Int64(done))
            }
        }
        if format != .ours { print("Read as \(format.rawValue)'s export.") }
        print(summary.text(failedPath: failedPath))
        if summary.failed > 0 { throw ExitCode(1) }
    }

    /// `links.csv` → `links.failed.csv`, beside it.
    static func failedPath(for path: String) -> String {
        let url = URL(fileURLWithPath: path)
        let stem = url.pathExtension.lowercased() == "csv" ? url.deletingPathExtension() : url
        return stem.path + ".failed.csv"
    }

    /// The file's records, for the progress bar's total.
    static func countRecords(_ path: String) throws -> Int {
        var reader = try ImportRows(path: path)
        var count = 0
        while try reader.next() != nil { count += 1 }
        return count
    }
}

/// The rows of an import file: CSV records, or Shlink's JSON list as the rows of its CSV.
struct ImportRows {
    private var reader: CSVReader?
    private var rows: [[String]] = []
    private var index = 0
    /// Whether the file is JSON.
    let isJSON: Bool

    init(path: String) throws {
        guard let handle = FileHandle(forReadingAtPath: path) else { throw ValidationError("cannot open \(path)") }
        let start = try handle.read(upToCount: 64) ?? Data()
        try handle.close()
        isJSON =
            start.first { !($0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09) }.map { $0 == 0x7B || $0 == 0x5B }
            ?? false
        if isJSON {
            rows = try ImportFormat.rows(fromShlinkJSON: try Data(contentsOf: URL(fileURLWithPath: path)))
        } else {
            reader = try CSVReader(path: path)
        }
    }

    /// The next row, or nil at the end.
    mutating func next() throws -> [String]? {
        if reader != nil { return try reader?.next() }
        guard index < rows.count else { return nil }
        defer { index += 1 }
        return rows[index]
    }
}

/// The work of ``ImportLinks``: rows to batch items, batches to the repository, outcomes to
/// counts and a file of failed rows.
struct LinkImport {
    /// What wrote the file.
    let format: ImportFormat
    /// Our column → position, from the header.
    let positions: [String: Int]
    /// The domain every row goes to (`""`: the default one), when one is given.
    let domain: String?

    init(header: [String], format: ImportFormat = .ours, domain: String? = nil) throws {
        positions = format.positions(header: header)
        guard positions["url"] != nil else {
            throw ValidationError(
                "the first row must name the columns, url among them: \(LinkCSV.linkColumns.joined(separator: ","))")
        }
        self.format = format
        self.domain = domain
    }

    /// `--domain`'s stored name: `""` for `default`.
    static func domainOverride(_ text: String) throws -> String {
        guard text != "default" else { return "" }
        do {
            return try DomainName.normalized(text)
        } catch {
            throw ValidationError("--domain: \(error.message)")
        }
    }

    /// What an import did.
    struct Summary {
        var rows = 0
        var created = 0
        var alreadyImported = 0
        var skippedDeleted = 0
        var failed = 0

        func text(failedPath: String) -> String {
            var text =
                "Import: \(rows) rows: \(created) created, \(alreadyImported) already there, \(failed) failed"
            if skippedDeleted > 0 { text += ", \(skippedDeleted) deleted links skipped" }
            if failed > 0 { text += "\nThe failed rows, with their errors: \(failedPath)" }
            return text
        }
    }

    /// A row's value of our column `name`, trimmed; empty when the file has none.
    private func field(_ name: String, of row: [String]) -> String {
        if name == "domain", let domain { return domain }
        return format.value(name, of: row, positions: positions)
    }

    /// The link a row asks for, keyed by a hash of its fields, or why it cannot be one. Its
    /// domain (normalised; nil for the default one) is the caller's to check exists.
    func item(for row: [String]) throws(APIError) -> LinkBatchItem {
        let values = LinkCSV.linkColumns.map { field($0, of: row) }
        let maxClicks = values[3]
        guard maxClicks.isEmpty || Int64(maxClicks) != nil else {
            throw APIError(.badRequest, "invalid_max_clicks", "'max_clicks' must be a whole number")
        }
        let request = LinkRequest(
            url: values[0], alias: values[1].isEmpty ? nil : values[1], expiresAt: values[2].isEmpty ? nil : values[2],
            maxClicks: Int64(maxClicks), tags: values[4].split(separator: " ").map(String.init))
        var link = try request.validated()
        link.title = try LinkRequest.validatedText(
            String(field("title", of: row).prefix(LinkRequest.maximumTitleLength)), field: "title")
        let routing = field("routing", of: row)
        if !routing.isEmpty {
            let read = try LinkRequest.routingPart(field: "rules") { try LinkRouting.parse(Array(routing.utf8)) }
            link.routing = try LinkRequest.validatedRouting(rules: read.rules, split: read.split)
        }
        if !values[5].isEmpty {
            do {
                link.domain = try DomainName.normalized(values[5])
            } catch {
                throw APIError(.badRequest, "invalid_domain", error.message, field: "domain")
            }
        }
        // The columns before domains existed, and the domain and routing only when there are
        // some: a file imported before keeps its rows' keys.
        let hashed = values[..<5] + (link.domain.map { [$0] } ?? []) + (routing.isEmpty ? [] : [routing])
        let key = SHA256.hash(data: Data(hashed.joined(separator: "\u{1F}").utf8))
        return .init(link: link, importKey: key.map { String(format: "%02x", $0) }.joined())
    }

    /// The visits another shortener counted for a row, carried over as the link's starting clicks.
    func clicks(of row: [String]) throws(APIError) -> Int64 {
        let text = field("clicks", of: row)
        guard !text.isEmpty else { return 0 }
        guard let clicks = Int64(text), (0...ClickCountEvent.maximumTotal).contains(clicks) else {
            throw APIError(.badRequest, "invalid_clicks", "'clicks' must be a whole number from 0 to 10^12")
        }
        return clicks
    }

    /// Reads every row of `reader`, creates the links in batches and writes the failed rows
    /// (with an `error` column) to `failedPath`, which is removed when nothing failed.
    func run(
        reader: inout ImportRows, batchSize: Int, repository: PostgresLinkRepository, domains: any DomainRepository,
        failedPath: String, progress: (Int) -> Void, finished: (Int) -> Void
    ) async throws -> Summary {
        var summary = Summary()
        var added: [String: Bool] = [:]
        func isAdded(_ domain: String) async throws -> Bool {
            if let known = added[domain] { return known }
            let found = try await domains.domain(domain) != nil
            added[domain] = found
            return found
        }
        var failures: CSVWriter?
        func fail(_ row: [String], _ error: String) throws {
            if failures == nil {
                failures = try CSVWriter(creating: failedPath)
                try failures?.write(LinkCSV.linkColumns + ["error"])
            }
            try failures?.write(LinkCSV.linkColumns.map { field($0, of: row) } + [error])
            summary.failed += 1
        }
        var batch: [(row: [String], item: LinkBatchItem, clicks: Int64)] = []
        func flush() async throws {
            guard !batch.isEmpty else { return }
            let outcomes = try await repository.createMany(batch.map(\.item))
            var carried: [(LinkAddress, Int64)] = []
            for ((row, _, clicks), outcome) in zip(batch, outcomes) {
                switch outcome {
                case .created(let address):
                    summary.created += 1
                    if clicks > 0 { carried.append((address, clicks)) }
                case .alreadyImported(let address):
                    summary.alreadyImported += 1
                    if clicks > 0 { carried.append((address, clicks)) }
                case .aliasTaken: try fail(row, "the alias '\(field("alias", of: row))' is already taken")
                case .noFreeCode: try fail(row, "no free code was found; import the row again")
                }
            }
            try await repository.carryOverClicks(carried)
            batch.removeAll(keepingCapacity: true)
            progress(summary.rows)
        }
        while let row = try reader.next() {
            summary.rows += 1
            if field("status", of: row) == "deleted" {
                summary.skippedDeleted += 1
                continue
            }
            do {
                let item = try item(for: row)
                if let domain = item.link.domain, try await !isAdded(domain) {
                    try fail(row, "the domain '\(domain)' is not added; add it with master domains add")
                    continue
                }
                batch.append((row, item, try clicks(of: row)))
            } catch let error as APIError {
                try fail(row, error.message)
            }
            if batch.count == batchSize { try await flush() }
        }
        try await flush()
        finished(summary.rows)
        if var failures {
            try failures.flush()
        } else {
            try? FileManager.default.removeItem(atPath: failedPath)
        }
        return summary
    }
}

/// `master links export [--tag t] > links.csv`: every link as CSV on standard output, oldest
/// first, streamed from Postgres in flat memory.
struct ExportLinks: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract:
            "Write every link as CSV (url,alias,expires_at,max_clicks,tags,domain,title,code,created_at,clicks,status)."
    )

    @OptionGroup var common: CommonOptions
    @OptionGroup var postgres: PostgresOptions

    /// Only links with this tag. Default: all links.
    @Option(help: "Only links with this tag.")
    var tag: String?

    func validate() throws {
        if let tag, !LinkTags.isWellFormed(tag) {
            throw ValidationError("--tag must be 1-\(LinkTags.maximumLength) characters of a-z, 0-9, '-' or '_'")
        }
    }

    func run() async throws {
        let logger = try Observability.bootstrap(service: "export", options: common)
        let namespace = try common.resolvedNamespace()
        let tag = self.tag
        let count = try await PostgresClient.withRunning(
            try postgres.clientConfiguration(namespace: namespace), logger: logger
        ) { client in
            let repository = LinksCommand.repository(client: client, logger: logger)
            var output = CSVWriter()
            try output.write(LinkCSV.exportColumns)
            var count = 0
            try await repository.forEachLink(tagged: tag) { link in
                try output.write(LinkCSV.exportRecord(link))
                count += 1
            }
            try output.flush()
            return count
        }
        logger.info("Exported links", metadata: ["links.count": "\(count)"])
    }
}
