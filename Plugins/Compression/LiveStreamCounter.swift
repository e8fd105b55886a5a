import CoreMetrics
import Synchronization

/// Counts the zlib streams one middleware holds, so that a leak shows as a count that never returns to zero: on the
/// middleware (``CompressionMiddleware/liveStreams``) and, when the gateway built it, on `/metrics`.
final class LiveStreamCounter: Sendable {
    /// The name of the gauge on `/metrics`; every compression middleware of a gateway adds to it.
    static let gaugeLabel = "sse_compression_streams_active"

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
