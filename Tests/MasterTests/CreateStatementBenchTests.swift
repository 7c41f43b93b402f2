import Foundation
import Testing
@testable import Master

/// `bench/create.pgbench`, pgbench's side of the create comparison in `make bench`, runs the
/// master's own ``CreateStatement``: its text, with each bind given as the master binds it for
/// one create without an `Idempotency-Key`.
@Suite struct CreateStatementBenchTests {
    /// What stands in the script for each bind (`$1` … `$27`) of the statement.
    static let binds: [Int: String] = {
        let code = "'p' || :client_id || '-' || :n"
        let payload = """
            convert_to('{"code":"p' || :client_id || '-' || :n || '","event_id":"00000000-0000-0000-0000-000000000000",\
            "occurred_at":"2026-01-01T00:00:00.000Z","revision":1,"type":"link.created",\
            "url":"https://example.com/bench/create","version":1}', 'UTF8')
            """
        let audit = """
            convert_to('{"action":"link.created","event_id":"00000000-0000-0000-0000-000000000000",\
            "occurred_at":"2026-01-01T00:00:00.000Z","subject":"p' || :client_id || '-' || :n || '","type":"audit",\
            "version":1}', 'UTF8')
            """
        return [
            1: "ARRAY['']", 2: "ARRAY[\(code)]", 3: "ARRAY['https://example.com/bench/create']", 4: "ARRAY['']",
            5: "ARRAY[0]", 6: "ARRAY['']", 7: "ARRAY[302]", 8: "ARRAY[true]", 9: "ARRAY[false]", 10: "ARRAY['']",
            11: "ARRAY['']", 12: "ARRAY['']", 13: "ARRAY['']", 14: "ARRAY['']", 15: "ARRAY['']", 16: "ARRAY['']",
            17: "ARRAY['']", 18: "ARRAY['']", 19: "ARRAY['']", 20: "ARRAY[''::bytea]", 21: "now()",
            22: "ARRAY['links']", 23: "ARRAY[\(code)]", 24: "ARRAY[\(payload)]", 25: "ARRAY['audit']",
            26: "ARRAY[\(code)]", 27: "ARRAY[\(audit)]",
        ]
    }()

    /// The statement as the script must hold it.
    static var expectedStatement: String {
        binds.keys.sorted(by: >).reduce(CreateStatement.sql) { sql, bind in
            sql.replacingOccurrences(of: "$\(bind)", with: binds[bind]!)
        } + ";"
    }

    @Test func theBenchScriptRunsTheCreateStatement() throws {
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("bench/create.pgbench")
        let text = try String(contentsOf: script, encoding: .utf8)
        #expect(!CreateStatement.sql.contains("$28"), "a bind the script does not give")
        #expect(
            text.contains(Self.expectedStatement),
            "bench/create.pgbench must end with CreateStatement.sql, binds replaced:\n\(Self.expectedStatement)")
    }
}
