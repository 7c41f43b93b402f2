import Foundation
import Logging
import ServiceLifecycle
import SharedConfiguration
import SharedEvents
import SharedKafka
import SharedLinks
import SharedResilience

/// Sends this replica's click totals to `<ns>-counts`: at once on every milestone, and every
/// ``Settings/interval`` for each code that moved since Kafka last acknowledged its total, plus
/// once more during a graceful shutdown, so the master's totals end up exact.
///
/// Redirects never wait for it: a milestone is only enqueued, and a code stays unreported in
/// Redis until a send of its current total is acknowledged, so nothing is lost to a slow or
/// absent broker, and after a crash the next run reports what was left (totals are running totals).
final class ClickReporter: Service, Sendable {
    /// How the reporter paces itself.
    struct Settings: Sendable {
        /// Time between reports of the moved codes. Default: 5 s.
        var interval: Duration = .seconds(5)
        /// Most codes per periodic report. Default: 10,000.
        var batchLimit: Int = 10_000
        /// Codes read, sent and settled at a time. Redis runs one script at a time, so a slice
        /// holds up every redirect behind it while it folds its codes' fresh clicks (about 45 µs
        /// a code: 100 codes put the redirect p99 over 10 ms). Default: 25.
        var sliceSize: Int = 25
        /// Shortest time from the start of one slice of a periodic report to the next. A report
        /// of thousands of codes sent at once reaches the broker, the master and Postgres as one
        /// burst that takes the CPU from the redirects; paced, it arrives in small bites.
        /// Default: 5 ms.
        var sliceSpacing: Duration = .milliseconds(5)
        /// Share of ``interval`` over which a periodic report spreads its slices, so that a large
        /// report is an even trickle rather than a burst at the start of the interval.
        /// Default: 0.8.
        var spread: Double = 0.8
        /// Most codes periodic reports send per second. What a report costs (its Redis fold, the
        /// broker, the master's upserts) grows with the codes that moved, and on a shared machine
        /// it takes CPU from the redirects; above this rate a code's report comes later than
        /// every ``interval``, its totals still exact (the bench: 1000 codes/s put the redirect p99
        /// at 11.9 ms, 500 at 7.8 ms). Default: 500.
        var codesPerSecond: Int = 500
        /// Longest wait for the broker's acknowledgements of one periodic report. Default: 10 s.
        var acknowledgementTimeout: Duration = .seconds(10)
        /// How long the final report during shutdown may take (within `--shutdown-timeout`). Default: 5 s.
        var finalReportTimeout: Duration = .seconds(5)
    }

    private let ledger: ClickLedger
    private let producer: KafkaProducer
    private let kafka: CircuitBreaker
    private let topic: String
    private let replicaID: String
    private let settings: Settings
    private let logger: Logger

    init(
        ledger: ClickLedger, producer: KafkaProducer, kafka: CircuitBreaker, namespace: Namespace,
        replicaID: String, settings: Settings = Settings(), logger: Logger
    ) {
        self.ledger = ledger
        self.producer = producer
        self.kafka = kafka
        self.topic = namespace.countsTopic
        self.replicaID = replicaID
        self.settings = settings
        self.logger = logger
    }

    /// Enqueues the milestone's total without waiting; if it fails, or Kafka's breaker is open,
    /// the periodic report sends it.
    func report(_ milestone: ClickMilestone) {
        guard kafka.state != .open else { return }
        do {
            try enqueue(ClickLedger.Total(epoch: milestone.epoch, linkKey: milestone.linkKey, total: milestone.total))
        } catch {
            logger.debug(
                "Milestone not enqueued; the next report carries it",
                metadata: ["link.key": "\(milestone.linkKey)", "error": "\(error)"])
        }
    }

    func run() async throws {
        try? await cancelWhenGracefulShutdown { [self] in
            var next = ContinuousClock.now + settings.interval
            while true {
                try await Task.sleep(until: next)
                next = next + settings.interval
                try await reportSlices(limit: settings.batchLimit, spacing: await paceOfPeriodicReport())
                await dropRetiredStats()
                // A report that overran its interval is followed by the next at once, not by a burst
                // of catch-up reports.
                next = max(next, ContinuousClock.now)
            }
        }
        guard !Task.isCancelled else { return }
        await reportEverythingBeforeShutdown()
    }

    /// Removes some of what epochs ended by a Redis restart left behind (a no-op but one
    /// round trip when there is none): a few SCAN steps each report, so that Redis stays free for
    /// redirects.
    private func dropRetiredStats() async {
        do {
            let removed = try await ledger.dropRetiredStats(steps: Self.retiredStatsStepsPerReport)
            if removed > 0 { logger.info("Removed the stats keys of retired epochs", metadata: ["keys": "\(removed)"]) }
        } catch {
            logger.warning("Could not remove the stats keys of retired epochs", metadata: ["error": "\(error)"])
        }
    }

    /// SCAN steps of a thousand keys for ``dropRetiredStats()`` in each periodic report.
    static let retiredStatsStepsPerReport = 20

    /// The time between the starts of the slices of a periodic report that spreads the codes
    /// moved now over ``Settings/spread`` of the interval, never below ``Settings/sliceSpacing``
    /// nor faster than ``Settings/codesPerSecond``.
    private func paceOfPeriodicReport() async -> Duration {
        let moved = min((try? await ledger.unreportedCount()) ?? 0, settings.batchLimit)
        let slices = max(1, (moved + settings.sliceSize - 1) / settings.sliceSize)
        let spreadOverInterval = settings.interval * settings.spread / slices
        let withinRate = Duration.seconds(Double(settings.sliceSize) / Double(max(1, settings.codesPerSecond)))
        return max(settings.sliceSpacing, spreadOverInterval, withinRate)
    }

    /// Sends moved codes slice by slice, starting one every `spacing` (at once when a slice took
    /// longer), until none is left, a slice settles
    /// nothing (Kafka is failing; the next report retries), `limit` codes were sent or `deadline`
    /// passed; returns how many codes were settled.
    @discardableResult
    private func reportSlices(limit: Int, spacing: Duration, deadline: ContinuousClock.Instant? = nil)
        async throws -> Int
    {
        var sent = 0
        var settled = 0
        var nextSlice = ContinuousClock.now
        while sent < limit {
            var acknowledgementTimeout = settings.acknowledgementTimeout
            if let deadline {
                guard ContinuousClock.now < deadline else { break }
                acknowledgementTimeout = min(acknowledgementTimeout, deadline - ContinuousClock.now)
            }
            let slice = await reportPending(acknowledgementTimeout: acknowledgementTimeout)
            sent += slice.pending
            settled += slice.settled
            if slice.pending < settings.sliceSize || slice.settled == 0 { break }
            if spacing > .zero {
                nextSlice = max(nextSlice + spacing, ContinuousClock.now)
                try await Task.sleep(until: nextSlice)
            }
        }
        return settled
    }

    /// Sends one slice of moved codes, waiting up to `acknowledgementTimeout` for the broker;
    /// returns how many codes were pending and how many were settled.
    func reportPending(acknowledgementTimeout: Duration) async -> (pending: Int, settled: Int) {
        let pending: ClickLedger.PendingTotals
        do {
            guard let found = try await ledger.pending(limit: settings.sliceSize) else { return (0, 0) }
            pending = found
        } catch {
            logger.warning(
                "Reading unreported clicks failed; retrying at the next report", metadata: ["error": "\(error)"])
            return (0, 0)
        }
        let delivered: (acknowledged: [ClickLedger.Total], failures: Int)
        do {
            delivered = try await kafka.run(reporting: {
                await deliver(pending.totals, acknowledgementTimeout: acknowledgementTimeout)
            })
        } catch {
            logger.debug("Kafka's breaker is open; the clicks wait in Redis", metadata: ["error": "\(error)"])
            return (pending.totals.count, 0)
        }
        let (acknowledged, failures) = delivered
        var settled = 0
        do {
            settled = try await ledger.settle(acknowledged, retired: pending.retired)
        } catch {
            logger.warning("Marking reported clicks failed; they are sent again", metadata: ["error": "\(error)"])
        }
        if failures > 0 {
            logger.warning(
                "Some click totals were not delivered; retrying at the next report",
                metadata: ["clicks.failed": "\(failures)", "clicks.delivered": "\(acknowledged.count)"])
        } else {
            logger.debug("Reported click totals", metadata: ["clicks.codes": "\(acknowledged.count)"])
        }
        return (pending.totals.count, settled)
    }

    /// Enqueues `totals` and waits up to `acknowledgementTimeout` for the broker: the totals it
    /// acknowledged and how many failed, with the outcome for Kafka's breaker (the first error).
    private func deliver(_ totals: [ClickLedger.Total], acknowledgementTimeout: Duration) async
        -> (value: (acknowledged: [ClickLedger.Total], failures: Int), outcome: CircuitBreaker.Outcome)
    {
        var deliveries: [(total: ClickLedger.Total, delivery: KafkaDelivery)] = []
        var failures = 0
        var firstError: (any Error)?
        for total in totals {
            do {
                deliveries.append((total, try enqueue(total)))
            } catch {
                failures += 1
                firstError = firstError ?? error
            }
        }
        let waiting = deliveries.map(\.delivery)
        _ = try? await withTimeout(acknowledgementTimeout) {
            for delivery in waiting { _ = try? await delivery.value() }
        }
        var acknowledged: [ClickLedger.Total] = []
        for item in deliveries {
            switch item.delivery.result {
            case .success: acknowledged.append(item.total)
            case .failure(let error):
                failures += 1
                firstError = firstError ?? error
            case nil:
                failures += 1
                firstError = firstError ?? TimeoutError(duration: acknowledgementTimeout)
            }
        }
        return ((acknowledged, failures), firstError.map { .failure($0) } ?? .success)
    }

    /// Reports, without pauses, until nothing is pending, nothing more gets delivered, or
    /// ``Settings/finalReportTimeout`` passes.
    private func reportEverythingBeforeShutdown() async {
        let reported =
            (try? await reportSlices(
                limit: .max, spacing: .zero, deadline: ContinuousClock.now + settings.finalReportTimeout)) ?? 0
        let left = (try? await ledger.unreportedCount()) ?? 0
        if left == 0 {
            logger.info("Reported the final click totals", metadata: ["clicks.codes": "\(reported)"])
        } else {
            logger.warning(
                "Some click totals stay unreported; the next start sends them",
                metadata: ["clicks.codes": "\(reported)", "clicks.unreported": "\(left)"])
        }
    }

    /// Enqueues one total's count event. (Only visits of link keys are counted; a key that were
    /// none would go out as a code the master dead-letters.)
    @discardableResult
    private func enqueue(_ total: ClickLedger.Total) throws(KafkaError) -> KafkaDelivery {
        let event = ClickCountEvent(
            LinkAddress(key: total.linkKey) ?? LinkAddress(code: total.linkKey), replicaID: replicaID,
            replicaEpoch: total.epoch, total: total.total,
            humans: total.humans.values.isEmpty ? nil : total.humans, bots: total.bots.values.isEmpty ? nil : total.bots
        )
        return try producer.enqueue(topic: topic, key: total.linkKey, value: EventCodec.encode(event))
    }
}
