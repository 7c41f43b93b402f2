import ArgumentParser
import Foundation
import Logging
import NIOCore
import PostgresNIO
import SharedConfiguration
import SharedEvents
import SharedPostgres
import SharedService
import SharedLinks

/// `master backfill`: announces every link in Postgres again, through the outbox, for a new or
/// emptied `<ns>-links` topic. Live links become `link.created` events, deleted ones
/// `link.deleted` and used-up ones `link.exhausted`, each with the link's current revision, so
/// consumers that already have the link ignore the copy: running it twice is safe. The events
/// are marked `reannounced`, so the notifier sends no webhook for links that did not change.
struct BackfillCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "backfill",
        abstract: "Re-publish every link from Postgres into the links topic through the outbox.")

    @OptionGroup var common: CommonOptions
    @OptionGroup var postgres: PostgresOptions

    /// Links written to the outbox per transaction. Default: 1000.
    @Option(help: "Links written to the outbox per transaction.")
    var batchSize: Int = 1000

    func validate() throws {
        guard batchSize > 0 else { throw ValidationError("--batch-size must be positive") }
    }

    func run() async throws {
        let logger = try Observability.bootstrap(service: "backfill", options: common)
        let namespace = try common.resolvedNamespace()
        let batchSize = self.batchSize
        let total = try await PostgresClient.withRunning(
            try postgres.clientConfiguration(namespace: namespace), logger: logger
        ) { client in
            var display: ProgressDisplay?
            let queued = try await LinkBackfill(client: client, batchSize: batchSize, logger: logger).run {
                done, total in
                if display == nil { display = ProgressDisplay(label: "Backfill", total: Int64(total), unit: "links") }
                display?.update(Int64(done))
            }
            display?.finish(Int64(queued))
            return queued
        }
        print("Backfill done: \(total) links queued; the outbox relay publishes them to \(namespace.linksTopic).")
    }
}

/// The work of ``BackfillCommand``, in batches of links ordered by code (keyset pagination).
struct LinkBackfill: Sendable {
    let client: PostgresClient
    let batchSize: Int
    let logger: Logger

    /// Queues every link; calls `progress(done, total)` after each batch; returns how many.
    func run(progress: (Int, Int) -> Void) async throws -> Int {
        var total = 0
        for try await count in try await client.query("SELECT count(*)::int FROM links", logger: logger)
            .decode(Int.self)
        {
            total = count
        }
        try await queueDomains()
        var done = 0
        var after = ""
        while true {
            let queued = try await queueBatch(after: after)
            guard let last = queued.last else { break }
            done += queued.count
            after = last
            progress(done, total)
        }
        return done
    }

    /// Announces every domain again, removed ones included, before the links: a replica rebuilt
    /// from the topic then knows each link's domain and fallback pages.
    private func queueDomains() async throws {
        try await client.withTransaction(logger: logger) { connection in
            let rows = try await connection.query(
                """
                SELECT name, root_url, not_found_url, expired_url, deleted_at IS NOT NULL, revision
                FROM domains ORDER BY name FOR SHARE
                """, logger: logger)
            var announcements: [OutboxRow] = []
            for try await (name, root, notFound, expired, deleted, revision)
                in rows.decode((String, String?, String?, String?, Bool, Int64).self)
            {
                announcements.append(
                    OutboxRow(
                        deleted
                            ? DomainEvent.deleted(name, revision: revision)
                            : DomainEvent.updated(
                                name.isEmpty ? nil : name, revision: revision, rootURL: root, notFoundURL: notFound,
                                expiredURL: expired)))
            }
            try await OutboxWriter.append(announcements, on: connection, logger: logger)
        }
    }

    /// Writes the outbox rows of the next batch of links in one transaction; returns their keys.
    ///
    /// The batch's rows are locked (`FOR SHARE`) until its events are queued: a delete or
    /// exhaustion of one of them waits, and its newer event lands in the outbox after the
    /// backfill's copy, never before it. Otherwise the topic could end on the stale copy, which
    /// compaction would keep, and a replica rebuilt from it would serve a deleted link.
    private func queueBatch(after key: String) async throws -> [String] {
        try await client.withTransaction(logger: logger) { connection in
            let rows = try await connection.query(
                """
                SELECT link_key, domain, code, url, expires_at, max_clicks, tags, deleted_at IS NOT NULL,
                    exhausted_at IS NOT NULL, revision, redirect_type, forward_query, crawlable, utm, routing::text,
                    password_hash
                FROM links WHERE link_key > \(key) ORDER BY link_key LIMIT \(batchSize) FOR SHARE
                """, logger: logger)
            var keys: [String] = []
            var announcements: [OutboxRow] = []
            for try await (
                key, domain, code, url, expiresAt, maxClicks, tags, deleted, exhausted, revision, status, forward,
                crawlable, utm, routing, password
            )
                in rows.decode(
                    (
                        String, String, String, String, Date?, Int64?, [String], Bool, Bool, Int64, Int16, Bool, Bool,
                        String?, String?, String?
                    ).self)
            {
                let address = LinkAddress(domain: domain, code: code)
                var event =
                    deleted
                    ? LinkEvent.deleted(address, revision: revision)
                    : exhausted
                        ? LinkEvent.exhausted(address, revision: revision)
                        : LinkEvent.created(
                            address, url: url, expiresAt: expiresAt, maxClicks: maxClicks, tags: tags,
                            redirect: PostgresLinkRepository.redirect(status, forward, crawlable),
                            utm: utm.map(UTMParameters.init(query:)),
                            routing: PostgresLinkRepository.routing(routing), passwordHash: password, revision: revision
                        )
                event.reannounced = true
                keys.append(key)
                announcements.append(OutboxRow(event))
            }
            try await OutboxWriter.append(announcements, on: connection, logger: logger)
            return keys
        }
    }
}
