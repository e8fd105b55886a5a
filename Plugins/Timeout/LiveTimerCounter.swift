import CoreMetrics
import Synchronization

/// Counts one middleware's streams whose timeout timer is live, so that a leak shows as a count that never returns
/// to zero: on the middleware (``TimeoutMiddleware/liveTimers``) and, when the gateway built it, on `/metrics`.
final class LiveTimerCounter: Sendable {
    /// The name of the gauge on `/metrics`; every timeout middleware of a gateway adds to it.
    static let gaugeLabel = "sse_timeout_timers_active"

    private let count = Atomic<Int>(0)
    private let gauge: CoreMetrics.Meter?

    init(metrics: (any MetricsFactory)? = nil) {
        self.gauge = metrics.map { CoreMetrics.Meter(label: Self.gaugeLabel, factory: $0) }
    }

    var value: Int { self.count.load(ordering: .relaxed) }

    func increment() {
        self.count.add(1, ordering: .relaxed)
        self.gauge?.increment()
    }

    func decrement() {
        self.count.subtract(1, ordering: .relaxed)
        self.gauge?.decrement()
    }
}
