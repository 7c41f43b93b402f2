import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import PostgresNIO
import SharedPostgres
import SharedResilience
import TestSupport
import Testing
@testable import Master

/// One client's costly searches must not close Postgres to everyone: searches are answered
/// from trigram indexes within a statement timeout of their own, and a statement that outlasts
/// it is the caller's fault, never counted against the breaker the creates share.
@Suite struct SearchLoadTests {
    @Test func aStatementTimeoutIsTheCallersFaultNotAnOutage() async throws {
        let namespace = try await TestStack.makeNamespace()
        let breaker = CircuitBreaker.postgres(logger: TestStack.logger)
        try await PostgresClient.withRunning(
            try TestStack.postgresConfiguration(database: namespace.databaseName), logger: TestStack.logger
        ) { client in
            for _ in 0..<10 {
                await #expect {
                    try await breaker.run {
                        try await client.withTransaction(logger: TestStack.logger) { connection in
                            try await connection.query("SET LOCAL statement_timeout = 10", logger: TestStack.logger)
                            for try await _ in try await connection.query(
                                "SELECT pg_sleep(1)", logger: TestStack.logger)
                            {}
                        }
                    }
                } throws: { $0.isStatementTimeout }
            }
            #expect(breaker.state == .closed, "ten timed-out statements opened the breaker")
        }
    }

    @Test func twentySearchesAtOnceAmongAMillionLinksLeaveCreatesAnswering() async throws {
        let namespace = try await TestStack.makeNamespace()
        let master = try MasterApplication(configuration: .test(namespace), logger: TestStack.logger)
        try await withRunningServices(master.backgroundServices) {
            try await master.http.test(.router) { http in
                // A million links, through the bulk endpoint, four requests at a time.
                let started = ContinuousClock.now
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for lane in 0..<4 {
                        group.addTask {
                            for request in stride(from: lane, to: 1000, by: 4) {
                                let items = (0..<1000).map {
                                    #"{"url":"https://example.com/products/\#(request)/item?id=\#($0)"}"#
                                }
                                let reply = try await http.executeJSON(
                                    uri: "/api/links/bulk", method: .post,
                                    body: ByteBuffer(string: #"{"links":[\#(items.joined(separator: ","))]}"#))
                                #expect(reply.status == .ok)
                            }
                        }
                    }
                    try await group.waitForAll()
                }
                print("SearchLoadTests: a million links created in \(ContinuousClock.now - started)")
                _ = try await master.postgres.query("ANALYZE links", logger: TestStack.logger)

                // Twenty searches for what no link holds, at once, while creates go on.
                let searches = Task {
                    try await withThrowingTaskGroup(of: (HTTPResponse.Status, String).self) { group in
                        for index in 0..<20 {
                            group.addTask {
                                let started = ContinuousClock.now
                                let reply = try await http.execute(uri: "/api/links?q=nomatch\(index)zz", method: .get)
                                return (reply.status, "\(reply.status.code) after \(ContinuousClock.now - started)")
                            }
                        }
                        return try await group.reduce(into: []) { $0.append($1) }
                    }
                }
                var creates: [HTTPResponse.Status] = []
                for index in 0..<20 {
                    creates.append(
                        try await http.executeJSON(
                            uri: "/create", method: .post,
                            body: ByteBuffer(string: #"{"url":"https://example.com/during/\#(index)"}"#)
                        ).status)
                }
                let replies = try await searches.value
                let searched = replies.map(\.0)
                print("SearchLoadTests: searches answered \(replies.map(\.1))")
                #expect(creates.allSatisfy { $0 == .created }, "\(creates)")
                #expect(searched.allSatisfy { $0 == .ok || $0 == .badRequest }, "\(searched)")
                #expect(searched.filter { $0 == .ok }.count >= 18, "the indexes answer ordinary searches: \(searched)")
                #expect(master.repository.breaker.state == .closed)
            }
        }
    }
}
