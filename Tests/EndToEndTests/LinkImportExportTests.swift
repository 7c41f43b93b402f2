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
        #expect(
            try await count("SELECT count(*)::int FROM outbox WHERE topic = 'links'", namespace: namespace) == 100_000)
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
        var csv = "url,alias,expires_at,max_clicks,tags,routing\n"
        // Rules and a split, as the JSON column (quotes doubled inside the CSV field).
        let routing =
            #""{""rules"":[{""url"":""https://m.example.com/"",""when"":{""device"":[""mobile""]}}],"#
            + #"""split"":[{""url"":""https://a.example/"",""weight"":60},{""url"":""https://b.example/"",""weight"":40}]}""#
        for index in 0..<500 {
            let expiry = index % 3 == 0 ? "2099-01-01T00:00:00.000Z" : ""
            csv += "\"https://example.com/round?a=\(index),b\",\(index % 2 == 0 ? "rt-\(index)" : ""),\(expiry),"
            csv += "\(index % 4 == 0 ? "9" : ""),\(index % 5 == 0 ? "\"x y\"" : ""),\(index % 7 == 0 ? routing : "")\n"
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

        // The same links: url, code, expiry, limit, tags and routing (created_at differs by
        // design, and so its clicks and status are left out with it).
        func links(_ path: String) throws -> Set<String> {
            let reported = try Regex(#",\d{4}-\d\d-\d\dT[0-9:.]+Z,\d+,(active|expired|exhausted|deleted),"#)
            return Set(try rows(path).map { $0.replacing(reported, with: ",") })
        }
        let before = try links(exported)
        #expect(before.count == 500)
        #expect(try links(again) == before)
        #expect(before.filter { $0.contains(#"""split"":[{""url"":""https://a.example/"""#) }.count == 72)
        let first = try #require(try rows(exported).first)
        #expect(
            first.hasPrefix("\"https://example.com/round?a=0,b\",rt-0,2099-01-01T00:00:00.000Z,9,x y,,,rt-0,"),
            "the default domain is the empty domain column, and no title the empty title column")

        let tagged = "\(directory)/tagged.csv"
        let filtered = try master(["export", "--tag", "x"], namespace: source, outputPath: tagged)
        #expect(try await filtered.waitForExit() == 0)
        #expect(try rows(tagged).count == 100)
    }
}

/// The other shorteners' exports of `samples/imports`, imported by the real executable: codes
/// kept on their domains, titles and tags carried, visit counts as starting clicks, once.
@Suite struct ForeignImportTests {
    private static let samples = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("samples/imports").path

    private func run(_ arguments: [String], namespace: String) async throws -> (status: Int32, output: String) {
        let process = try ServiceProcess(
            "master", arguments: arguments + ["--log-level", "warning"],
            environment: ["SHORTENER_NAMESPACE": namespace, "SHORTENER_PG_PORT": String(try TestStack.postgresPort)])
        let status = try await process.waitForExit(timeout: .seconds(60))
        return (status, process.logTail())
    }

    /// The link `code` on `domain` as the master's repository reads it.
    private func link(_ code: String, domain: String = "", namespace: String) async throws -> (
        url: String, title: String?, tags: [String], clicks: Int64
    )? {
        try await PostgresClient.withRunning(
            try TestStack.postgresConfiguration(database: namespace), logger: TestStack.logger
        ) { client in
            let rows = try await client.query(
                """
                SELECT l.url, l.title, l.tags,
                    COALESCE((SELECT sum(total) FROM click_counts c WHERE c.link_key = l.link_key), 0)::bigint
                FROM links l WHERE l.domain = \(domain) AND l.code = \(code)
                """, logger: TestStack.logger)
            for try await (url, title, tags, clicks) in rows.decode((String, String?, [String], Int64).self) {
                return (url, title, tags, clicks)
            }
            return nil
        }
    }

    @Test func yourlsShlinkAndBitlyExportsKeepTheirCodesAndCounts() async throws {
        let namespace = try await TestStack.makeNamespace().name
        #expect(try await run(["migrate", "up"], namespace: namespace).status == 0)
        #expect(try await run(["domains", "add", "go.example"], namespace: namespace).status == 0)

        for (file, format, created) in [
            ("yourls.csv", "yourls", 3), ("shlink.csv", "shlink", 2), ("shlink.json", "shlink", 2),
            ("bitly.csv", "bitly", 1),
        ] {
            let path = "\(Self.samples)/\(file)"
            let first = try await run(["links", "import", path], namespace: namespace)
            let expected = file == "bitly.csv" ? 1 : 0
            #expect(first.status == Int32(expected), "\(file): \(first.output)")
            #expect(first.output.contains("Read as \(format)'s export"), "\(file): \(first.output)")
            #expect(first.output.contains("\(created) created"), "\(file): \(first.output)")
            let again = try await run(["links", "import", path], namespace: namespace)
            #expect(again.output.contains("0 created, \(created) already there"), "\(file): \(again.output)")
        }
        // bit.ly is no domain of ours: put its rows on the default domain.
        let bitly = try await run(
            ["links", "import", "\(Self.samples)/bitly.csv", "--domain", "default"], namespace: namespace)
        #expect(bitly.status == 0 && bitly.output.contains("2 created"), "\(bitly.output)")

        let yourls = try #require(try await link("ylaunch", namespace: namespace))
        #expect(yourls.url == "https://example.com/launch" && yourls.title == "Launch post" && yourls.clicks == 1520)
        let shlink = try #require(try await link("slaunch", namespace: namespace))
        #expect(shlink.tags == ["spring", "launch-2023"] && shlink.clicks == 812)
        let onDomain = try #require(try await link("sgo", domain: "go.example", namespace: namespace))
        #expect(onDomain.url == "https://example.com/go" && onDomain.clicks == 5)
        let json = try #require(try await link("sjson1", namespace: namespace))
        #expect(json.title == "From the API" && json.tags == ["api", "imported"] && json.clicks == 44)
        #expect(try await link("sjson2", namespace: namespace)?.clicks == 3, "an older Shlink's visitsCount")
        let jobs = try #require(try await link("jobs", domain: "go.example", namespace: namespace))
        #expect(jobs.url == "https://example.com/careers" && jobs.clicks == 12)
        #expect(try await link("3Qx9AbC", namespace: namespace)?.tags == ["finance", "reports"])
    }
}
