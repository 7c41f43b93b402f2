import Foundation
import PostgresNIO
import TestSupport
import Testing

/// `master links import` and `master links export` with the real executable and Postgres.
@Suite struct LinkImportExportTests {
    private func master(_ arguments: [String], namespace: String, outputPath: String? = nil) throws
        -> ServiceProcess
    {
        try ServiceProcess(
            "master", arguments: ["links"] + arguments + ["--log-level", "warning"],
            environment: ["SHORTENER_NAMESPACE": namespace, "SHORTENER_PG_PORT": String(try TestStack.postgresPort)],
            outputPath: outputPath)
    }

    private func count(_ sql: PostgresQuery, namespace: String) async throws -> Int {
        try await PostgresClient.withRunning(
            try TestStack.postgresConfiguration(database: namespace), logger: TestStack.logger
        ) { client in
            for try await value in try await client.query(sql, logger: TestStack.logger).decode(Int.self) {
                return value
            }
            return -1
        }
    }

    /// Every data row of a CSV file, the header left out.
    private func rows(_ path: String) throws -> [String] {
        Array(try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").dropFirst().map(String.init))
    }

    @Test func importingAHundredThousandRowsTwiceCreatesThemOnce() async throws {
        let namespace = try await TestStack.makeNamespace().name
        let directory = NSTemporaryDirectory() + "import-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = "\(directory)/links.csv"
        var csv = "url,alias,expires_at,max_clicks,tags\n"
        for index in 0..<100_000 {
            let alias = index % 10 == 0 ? "imp-\(index)" : ""
            let limit = index % 7 == 0 ? "\(index + 1)" : ""
            csv += "https://example.com/import/\(index),\(alias),,\(limit),\"import batch-\(index % 5)\"\n"
        }
        csv += "ftp://example.com/bad,,,,\n"
        csv += "https://example.com/late,,2001-01-01T00:00:00Z,,\n"
        csv += "https://example.com/dup,imp-0,,,\n"  // an alias of an earlier row
        try csv.write(toFile: path, atomically: true, encoding: .utf8)

        let first = try master(["import", path], namespace: namespace)
        #expect(try await first.waitForExit(timeout: .seconds(300)) == 1, "\(first.logTail())")
        #expect(
            first.logTail().contains("Import: 100003 rows: 100000 created, 0 already there, 3 failed"),
            "\(first.logTail())")
        #expect(first.logTail().contains("Import: 100003 / 100003 rows"), "progress: \(first.logTail())")
        let failed = try rows("\(directory)/links.failed.csv")
        #expect(failed.count == 3)
        #expect(failed.contains { $0.hasPrefix("ftp://example.com/bad") && $0.contains("http or https") })
        #expect(failed.contains { $0.contains("imp-0") && $0.contains("already taken") })

        let second = try master(["import", path], namespace: namespace)
        #expect(try await second.waitForExit(timeout: .seconds(300)) == 1, "\(second.logTail())")
        #expect(
            second.logTail().contains("Import: 100003 rows: 0 created, 100000 already there, 3 failed"),
            "\(second.logTail())")
        #expect(try await count("SELECT count(*)::int FROM links", namespace: namespace) == 100_000)
        #expect(try await count("SELECT count(*)::int FROM outbox", namespace: namespace) == 100_000)
        #expect(
            try await count("SELECT count(*)::int FROM links WHERE tags @> ARRAY['batch-3']", namespace: namespace)
                == 20_000)
    }

    @Test func anExportImportedElsewhereExportsTheSameLinks() async throws {
        let source = try await TestStack.makeNamespace().name
        let target = try await TestStack.makeNamespace().name
        let directory = NSTemporaryDirectory() + "export-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var csv = "url,alias,expires_at,max_clicks,tags\n"
        for index in 0..<500 {
            let expiry = index % 3 == 0 ? "2099-01-01T00:00:00.000Z" : ""
            csv += "\"https://example.com/round?a=\(index),b\",\(index % 2 == 0 ? "rt-\(index)" : ""),\(expiry),"
            csv += "\(index % 4 == 0 ? "9" : ""),\(index % 5 == 0 ? "\"x y\"" : "")\n"
        }
        try csv.write(toFile: "\(directory)/in.csv", atomically: true, encoding: .utf8)
        let seed = try master(["import", "\(directory)/in.csv"], namespace: source)
        #expect(try await seed.waitForExit() == 0, "\(seed.logTail())")

        let exported = "\(directory)/out.csv"
        let export = try master(["export"], namespace: source, outputPath: exported)
        #expect(try await export.waitForExit() == 0, "\(export.logTail())")
        let reimport = try master(["import", exported], namespace: target)
        #expect(try await reimport.waitForExit() == 0, "\(reimport.logTail())")
        #expect(reimport.logTail().contains("500 created"), "\(reimport.logTail())")
        let again = "\(directory)/again.csv"
        let second = try master(["export"], namespace: target, outputPath: again)
        #expect(try await second.waitForExit() == 0, "\(second.logTail())")

        // The same links: url, code, expiry, limit and tags (created_at differs by design).
        func links(_ path: String) throws -> Set<String> {
            Set(
                try rows(path).map { row in
                    let fields = row.split(separator: ",", omittingEmptySubsequences: false)
                    return fields.prefix(fields.count - 3).joined(separator: ",")
                })
        }
        let before = try links(exported)
        #expect(before.count == 500)
        #expect(try links(again) == before)
        let first = try #require(try rows(exported).first)
        #expect(
            first.hasPrefix("\"https://example.com/round?a=0,b\",rt-0,2099-01-01T00:00:00.000Z,9,x y,,rt-0,"),
            "the default domain is the empty domain column")

        let tagged = "\(directory)/tagged.csv"
        let filtered = try master(["export", "--tag", "x"], namespace: source, outputPath: tagged)
        #expect(try await filtered.waitForExit() == 0)
        #expect(try rows(tagged).count == 100)
    }
}
