import Testing
@testable import SharedKafka

/// The decisions of a running consumer (``KafkaConsumer/StateMachine``), without a broker.
@Suite struct ConsumerStateMachineTests {
    private typealias Machine = KafkaConsumer.StateMachine

    private func offsets(_ pairs: [Int32: Int64]) -> [PartitionKey: Int64] {
        Dictionary(uniqueKeysWithValues: pairs.map { (PartitionKey(topic: "links", partition: $0.key), $0.value) })
    }

    @Test func aRewindIsHandedOutOnceAndTheFirstReasonWins() {
        var machine = Machine()
        #expect(machine.nextStep() == .poll)
        #expect(!machine.abandonsRetries)
        machine.requestRewind(reason: "redis restarted")
        machine.requestRewind(reason: "later")
        #expect(machine.abandonsRetries, "a rewind re-delivers the messages a retry would apply")
        #expect(machine.nextStep() == .rewind(reason: "redis restarted"))
        #expect(machine.nextStep() == .poll)
        #expect(!machine.abandonsRetries)
    }

    @Test func stoppingWinsOverAPendingRewindAndStays() {
        var machine = Machine()
        machine.requestRewind(reason: "lost")
        machine.stop()
        #expect(machine.nextStep() == .stop)
        #expect(machine.nextStep() == .stop)
        #expect(machine.abandonsRetries && machine.isStopping && !machine.isCloseAbandoned)
        machine.stop(abandoningClose: true)
        machine.stop()
        #expect(machine.isCloseAbandoned, "a cancellation's abandoned close is never taken back")
    }

    @Test func aConsumerIsCaughtUpOnceEveryPartitionReachedItsEnd() {
        var machine = Machine()
        let readAlready = machine.assigned(remaining: [0: 10, 1: 5], missingHistory: [1: 2])
        #expect(!readAlready)
        #expect(machine.missingHistory == [1: 2] && !machine.isCaughtUp)
        let oneShort = machine.applied(nextOffsets: offsets([0: 10, 1: 4]))
        #expect(!oneShort, "partition 1 is one short")
        let reached = machine.applied(nextOffsets: offsets([1: 5]))
        #expect(reached)
        #expect(!machine.isCaughtUp, "caught up only once the handler's step ran")
        machine.caughtUp()
        #expect(machine.isCaughtUp)
        let again = machine.applied(nextOffsets: offsets([0: 11]))
        #expect(!again, "nothing remains to reach twice")
    }

    @Test func emptyPartitionsAndGroupSubscriptionsAreCaughtUpAtOnce() {
        var machine = Machine()
        let nothingToRead = machine.assigned(remaining: [:], missingHistory: [:])
        #expect(nothingToRead)
        var subscribed = Machine()
        _ = subscribed.assigned(remaining: [0: 3], missingHistory: [0: 1])
        subscribed.subscribed()
        #expect(subscribed.isCaughtUp && subscribed.missingHistory.isEmpty)
    }
}
