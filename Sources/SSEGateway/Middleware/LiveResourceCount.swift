public import CoreMetrics
import Synchronization

/// Counts what one middleware holds for open streams (timers, compressor states), so that a resource that outlives
/// its session shows as a count that never returns to zero: on the middleware itself, for its tests, and as a gauge
/// on `/metrics`, for operators.
///
/// The count belongs to the middleware instance, never to the process, so servers (and tests) running side by side
/// do not see each other's resources.
public final class LiveResourceCount: Sendable {
    private let count = Atomic<Int>(0)
    private let gauge: CoreMetrics.Meter?

    /// A count that is also the gauge `gaugeLabel` of `metrics` (usually ``MiddlewareContext/metrics``); every
    /// instance with that label adds to the same gauge.
    public init(gaugeLabel: String, metrics: any MetricsFactory) {
        self.gauge = CoreMetrics.Meter(label: gaugeLabel, factory: metrics)
    }

    /// A count without a gauge, for a middleware built in code rather than by the gateway.
    public init() {
        self.gauge = nil
    }

    /// Resources held now.
    public var value: Int { self.count.load(ordering: .relaxed) }

    public func increment() {
        self.count.wrappingAdd(1, ordering: .relaxed)
        self.gauge?.increment()
    }

    public func decrement() {
        self.count.wrappingSubtract(1, ordering: .relaxed)
        self.gauge?.decrement()
    }
}
