import Synchronization

/// Counts the streams whose heartbeat timer is live, per middleware and across the process, so that a test can
/// prove that every timer is released with its session.
final class LiveTimerCounter: Sendable {
    /// Every heartbeat middleware's live timers.
    static let process = Atomic<Int>(0)

    let value = Atomic<Int>(0)

    func increment() {
        self.value.add(1, ordering: .relaxed)
        Self.process.add(1, ordering: .relaxed)
    }

    func decrement() {
        self.value.subtract(1, ordering: .relaxed)
        Self.process.subtract(1, ordering: .relaxed)
    }
}
