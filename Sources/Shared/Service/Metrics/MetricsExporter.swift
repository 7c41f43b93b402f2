import Foundation
import Metrics
import NIOCore
import NIOPosix
import Prometheus

/// The process's metrics in Prometheus's format: swift-metrics records into ``registry``, and
/// `GET /metrics` renders it after refreshing the process figures (memory, CPU, threads, open
/// files) and measuring how long the event loops take to run a task.
public enum MetricsExporter {
    /// The registry every metric of this process lands in.
    public static let registry = PrometheusCollectorRegistry()

    /// Routes swift-metrics into ``registry``, with latency buckets from 0.5 ms to 10 s (the
    /// library's default starts at 5 ms, too coarse for a redirect). Once per process.
    public static func bootstrap() {
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.defaultDurationHistogramBuckets = [
            .microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10),
            .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500),
            .seconds(1), .milliseconds(2500), .seconds(5), .seconds(10),
        ]
        factory.valueHistogramBuckets["redis_pipeline_depth"] = [1, 2, 4, 8, 16, 32, 64, 128, 256]
        MetricsSystem.bootstrap(factory)
    }

    /// The registry in Prometheus's text format, with fresh process figures.
    public static func render() async -> [UInt8] {
        processFigures.refresh()
        await eventLoopLag.measure()
        return registry.emitToBuffer()
    }

    private static let processFigures = ProcessFigures(registry: registry)
    private static let eventLoopLag = EventLoopLag(registry: registry)
}

/// `process_*` figures read from `/proc/self` (Linux) at each scrape.
private final class ProcessFigures: Sendable {
    private let residentMemory: Prometheus.Gauge
    private let peakResidentMemory: Prometheus.Gauge
    private let cpuSeconds: Prometheus.Gauge
    private let threads: Prometheus.Gauge
    private let openFiles: Prometheus.Gauge
    private static let pageSize = Double(sysconf(Int32(_SC_PAGESIZE)))
    private static let ticksPerSecond = Double(sysconf(Int32(_SC_CLK_TCK)))

    init(registry: PrometheusCollectorRegistry) {
        residentMemory = registry.makeGauge(
            descriptor: .init(metricName: "process_resident_memory_bytes", unitName: "", helpText: "Resident memory."))
        peakResidentMemory = registry.makeGauge(
            descriptor: .init(
                metricName: "process_resident_memory_max_bytes", unitName: "",
                helpText: "Highest resident memory since the start."))
        cpuSeconds = registry.makeGauge(
            descriptor: .init(
                metricName: "process_cpu_seconds", unitName: "", helpText: "User and system CPU time used."))
        threads = registry.makeGauge(
            descriptor: .init(metricName: "process_threads", unitName: "", helpText: "Threads of the process."))
        openFiles = registry.makeGauge(
            descriptor: .init(metricName: "process_open_fds", unitName: "", helpText: "Open file descriptors."))
    }

    func refresh() {
        if let statm = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8),
            let pages = statm.split(separator: " ").dropFirst().first.flatMap({ Double($0) })
        {
            residentMemory.set(pages * Self.pageSize)
        }
        if let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
            let kilobytes = line.split(separator: " ").dropFirst().first.flatMap({ Double($0) })
        {
            peakResidentMemory.set(kilobytes * 1024)
        }
        // Fields after the command name (which is in parentheses and may contain spaces).
        if let stat = try? String(contentsOfFile: "/proc/self/stat", encoding: .utf8),
            let end = stat.lastIndex(of: ")")
        {
            let fields = stat[stat.index(after: end)...].split(separator: " ")
            // fields[0] is field 3 (state): utime is field 14, stime 15, num_threads 20.
            if fields.count > 17, let user = Double(fields[11]), let system = Double(fields[12]),
                let count = Double(fields[17])
            {
                cpuSeconds.set((user + system) / Self.ticksPerSecond)
                threads.set(count)
            }
        }
        if let descriptors = try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd") {
            openFiles.set(Double(descriptors.count))
        }
    }
}

/// `event_loop_lag_seconds{loop}`: how long each NIO event loop took to start a task submitted
/// at scrape time; a saturated loop shows it at once.
private final class EventLoopLag: Sendable {
    private let gauges: [(any EventLoop, Prometheus.Gauge)]

    init(registry: PrometheusCollectorRegistry) {
        gauges = MultiThreadedEventLoopGroup.singleton.makeIterator().enumerated().map { index, loop in
            (
                loop,
                registry.makeGauge(
                    descriptor: .init(
                        metricName: "event_loop_lag_seconds", unitName: "",
                        helpText: "Delay before an event loop ran a task submitted at scrape time."),
                    labels: [("loop", String(index))])
            )
        }
    }

    func measure() async {
        for (loop, gauge) in gauges {
            let start = ContinuousClock.now
            try? await loop.submit {}.get()
            gauge.set((ContinuousClock.now - start).inSeconds)
        }
    }
}
