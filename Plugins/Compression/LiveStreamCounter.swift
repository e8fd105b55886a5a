import Synchronization

/// Counts the zlib streams one middleware holds, and those of the whole process in
/// ``CompressionMiddleware/liveStreamsInProcess``.
final class LiveStreamCounter: Sendable {
    private let count = Atomic<Int>(0)

    var value: Int { self.count.load(ordering: .relaxed) }

    func increment() {
        self.count.wrappingAdd(1, ordering: .relaxed)
        CompressionMiddleware.liveStreamsInProcess.wrappingAdd(1, ordering: .relaxed)
    }

    func decrement() {
        self.count.wrappingSubtract(1, ordering: .relaxed)
        CompressionMiddleware.liveStreamsInProcess.wrappingSubtract(1, ordering: .relaxed)
    }
}
