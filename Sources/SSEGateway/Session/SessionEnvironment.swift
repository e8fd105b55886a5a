import Logging
import NIOCore
import Synchronization

/// What every session of one server shares: where it logs, what it counts, and how long listeners may take.
final class SessionEnvironment: Sendable {
    let logger: Logger
    let metrics: GatewayMetrics
    let closeListenerTimeout: TimeAmount
    /// Sessions of this server alive in memory (created and not yet freed): what a leak test watches, since a
    /// session that is never freed keeps its attributes and whatever its listeners captured. Unlike
    /// `sse_sessions_active`, which counts open streams, it only drops when the last reference goes.
    let liveSessions = Atomic<Int>(0)

    init(logger: Logger, metrics: GatewayMetrics, closeListenerTimeout: TimeAmount) {
        self.logger = logger
        self.metrics = metrics
        self.closeListenerTimeout = closeListenerTimeout
    }

    func didOpen(_ session: Session) {
        self.metrics.sessionsActive.increment()
        self.logger.debug(
            "session opened",
            metadata: ["session": "\(session.id)", "topic": "\(session.topics.map(\.raw))"]
        )
    }

    func didClose(_ session: Session, reason: CloseReason) {
        self.metrics.sessionsActive.decrement()
        self.metrics.sessionClosed(reason: reason)
        self.logger.debug("session closed", metadata: ["session": "\(session.id)", "reason": "\(reason)"])
    }

    func listenerFailed(_ session: Session, handle: WillCloseListenerHandle, problem: String) {
        self.metrics.closeListenerFailures.increment()
        self.logger.warning(
            "will-close listener \(handle.value) \(problem)",
            metadata: ["session": "\(session.id)"]
        )
    }
}
