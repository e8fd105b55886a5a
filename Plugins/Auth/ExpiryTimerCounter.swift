import CoreMetrics
import Synchronization

/// Counts one middleware's armed expiry timers, so that a timer outliving its session shows as a count that never
/// returns to zero: on the middleware (``AuthMiddleware/liveExpiryTimers``) and, when the gateway built it, on
/// `/metrics`.
final class ExpiryTimerCounter: Sendable {
    /// The name of the gauge on `/metrics`; every auth middleware of a gateway adds to it.
    static let gaugeLabel = "sse_auth_expiry_timers_active"

    private let count = Atomic<Int>(0)
    private let gauge: CoreMetrics.Meter?

    init(metrics: (any MetricsFactory)? = nil) {
        self.gauge = metrics.map { CoreMetrics.Meter(label: Self.gaugeLabel, factory: $0) }
    }

    var value: Int { self.count.load(ordering: .relaxed) }

    func increment() {
        self.count.wrappingAdd(1, ordering: .relaxed)
        self.gauge?.increment()
    }

    func decrement() {
        self.count.wrappingSubtract(1, ordering: .relaxed)
        self.gauge?.decrement()
    }
}
