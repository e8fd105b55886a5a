import CoreMetrics
import NIOConcurrencyHelpers
import Prometheus

/// The gateway's own counters, kept in a registry per server so that several gateways (or tests) in one process
/// never mix their figures; `/metrics` renders it in the Prometheus text format.
final class GatewayMetrics: Sendable {
    let registry: PrometheusCollectorRegistry
    let factory: PrometheusMetricsFactory

    let sessionsActive: CoreMetrics.Meter
    let eventsPublished: CoreMetrics.Counter
    let eventsDelivered: CoreMetrics.Counter
    let closeListenerFailures: CoreMetrics.Counter
    /// Stream handlers' tasks still running (a handler that ignores cancellation shows here).
    let streamHandlersActive: CoreMetrics.Meter
    let streamHandlerFailures: CoreMetrics.Counter
    /// How long an event loop took to write one batch of events to its streams (with `streams.writeDelay`, one
    /// window's write): the last stream of a loop hears of an event up to this late, so it says when a loop holds
    /// more streams than the latency it must keep allows.
    let fanOutDuration: DurationHistogram
    private let closedByReason = NIOLockedValueBox<[String: CoreMetrics.Counter]>([:])
    private let requestsByStatus = NIOLockedValueBox<[Int: CoreMetrics.Counter]>([:])

    init(registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) {
        self.registry = registry
        self.factory = PrometheusMetricsFactory(registry: registry)
        self.sessionsActive = CoreMetrics.Meter(label: "sse_sessions_active", factory: self.factory)
        self.eventsPublished = CoreMetrics.Counter(label: "sse_events_published_total", factory: self.factory)
        self.eventsDelivered = CoreMetrics.Counter(label: "sse_events_delivered_total", factory: self.factory)
        self.closeListenerFailures = CoreMetrics.Counter(
            label: "sse_close_listener_failures_total", factory: self.factory)
        self.streamHandlersActive = CoreMetrics.Meter(label: "sse_stream_handlers_active", factory: self.factory)
        self.streamHandlerFailures = CoreMetrics.Counter(
            label: "sse_stream_handler_failures_total", factory: self.factory)
        self.fanOutDuration = registry.makeDurationHistogram(
            descriptor: MetricNameDescriptor(
                namespace: "sse", metricName: "fanout", unitName: "seconds",
                helpText: "Time an event loop took to write one batch of events (or one write window) to its streams"),
            buckets: [
                .microseconds(100), .milliseconds(1), .milliseconds(5), .milliseconds(10), .milliseconds(25),
                .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1),
            ])
        self.sessionsActive.set(0)
        self.streamHandlersActive.set(0)
    }

    func sessionClosed(reason: CloseReason) {
        let counter = self.closedByReason.withLockedValue { counters in
            if let counter = counters[reason.name] { return counter }
            let counter = CoreMetrics.Counter(
                label: "sse_sessions_closed_total",
                dimensions: [("reason", reason.name)],
                factory: self.factory
            )
            counters[reason.name] = counter
            return counter
        }
        counter.increment()
    }

    func httpResponse(status: Int) {
        let counter = self.requestsByStatus.withLockedValue { counters in
            if let counter = counters[status] { return counter }
            let counter = CoreMetrics.Counter(
                label: "sse_http_requests_total",
                dimensions: [("status", String(status))],
                factory: self.factory
            )
            counters[status] = counter
            return counter
        }
        counter.increment()
    }

    /// Every sample as `name{labels}` → value, from the Prometheus exposition.
    func samples() -> [String: String] {
        var samples: [String: String] = [:]
        for line in String(decoding: self.render(), as: UTF8.self).split(separator: "\n") where !line.hasPrefix("#") {
            guard let space = line.lastIndex(of: " ") else { continue }
            samples[String(line[..<space])] = String(line[line.index(after: space)...])
        }
        return samples
    }

    /// The Prometheus text exposition of every metric in the registry.
    func render() -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(4096)
        self.registry.emit(into: &bytes)
        return bytes
    }
}
