import Foundation
import SharedConfiguration
import SharedEvents
import ServiceLifecycle
import SharedKafka
import TestSupport
import Testing

@testable import Replica

/// The replica's visit recorder on the dev broker: redirects only stage their visits; the
/// recorder's own thread sends them, keeps each link's visits in order, sends what is staged
/// when the replica stops, and drops (and counts) what finds the staged list full.
@Suite struct VisitRecorderTests {
    static func recorder(_ namespace: Namespace, stagedLimit: Int = VisitRecorder.defaultStagedLimit) throws
        -> VisitRecorder
    {
        try VisitRecorder(
            enabled: true, namespace: namespace, replicaID: "recorder-test", kafkaBrokers: TestStack.kafkaBrokers,
            clientSettings: TestStack.kafkaClients[.replicaVisits], stagedLimit: stagedLimit, logger: TestStack.logger)
    }

    /// The replica's visit services, in the order the replica runs them.
    static func services(of recorder: VisitRecorder) -> [any Service] {
        [recorder.producer!, recorder.sender!]
    }

    /// Visit `number` of `code`: its number is its time, in seconds since 1970.
    static func record(_ number: Int, of code: String, on recorder: VisitRecorder) {
        recorder.record(
            domain: nil, code: code, outcome: 302,
            attributes: ClickAttributes(
                hour: "2026120700", referrer: "direct", country: "unknown",
                client: .init(device: "desktop", browser: "Firefox", os: "Linux")),
            at: Date(timeIntervalSince1970: Double(number)))
    }

    @Test func visitsStagedFromManyTasksArriveOnceInOrderAlsoWhenTheReplicaStopsAtOnce() async throws {
        let namespace = try await TestStack.makeNamespace()
        let recorder = try Self.recorder(namespace)
        let codes = ["first", "second", "third", "fourth"]
        let perCode = 2_000
        try await withRunningServices(Self.services(of: recorder)) {
            // Concurrently, like the event loops; the services stop as soon as the last is staged.
            await withTaskGroup(of: Void.self) { tasks in
                for code in codes {
                    tasks.addTask {
                        for number in 0..<perCode { Self.record(number, of: code, on: recorder) }
                    }
                }
            }
        }
        #expect(recorder.droppedVisits == 0)
        let visits = try await VisitsTopic.read(namespace)
        for code in codes {
            let numbers = visits.filter { $0.key == code }.map { Int($0.event.occurredAt.timeIntervalSince1970) }
            let onceInOrder = numbers == Array(0..<perCode)
            #expect(onceInOrder, "\(code): \(numbers.count) visits, starting \(numbers.prefix(5))")
        }
        #expect(visits.count == codes.count * perCode)
    }

    @Test func aFullStagedListDropsAndCountsTheVisitsPastIt() async throws {
        let namespace = try await TestStack.makeNamespace()
        let recorder = try Self.recorder(namespace, stagedLimit: 50)
        // Not running yet: nothing takes the staged visits.
        for number in 0..<57 { Self.record(number, of: "full", on: recorder) }
        #expect(recorder.droppedVisits == 7)
        try await withRunningServices(Self.services(of: recorder)) {}
        let numbers = try await VisitsTopic.read(namespace).map { Int($0.event.occurredAt.timeIntervalSince1970) }
        #expect(numbers == Array(0..<50))
        // Stopped: later visits are dropped too, never kept.
        Self.record(57, of: "full", on: recorder)
        #expect(recorder.droppedVisits == 8)
    }
}
