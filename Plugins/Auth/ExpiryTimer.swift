import NIOConcurrencyHelpers
import NIOCore
import Synchronization

/// The timer that closes one session when its token expires, armed once and ended exactly once: by firing or by
/// the session's will-close listener.
///
/// It keeps the process-wide count of armed timers, so a test can prove that none outlives its session.
final class ExpiryTimer: Sendable {
    /// Timers armed and neither fired nor cancelled.
    static let live = Atomic<Int>(0)

    private enum State {
        case pending
        case armed(Scheduled<Void>)
        case finished
    }

    private let state = NIOLockedValueBox(State.pending)

    /// Hands over the scheduled task; cancels it at once when the session has already ended.
    func arm(_ scheduled: Scheduled<Void>) {
        let armed = self.state.withLockedValue { state -> Bool in
            guard case .pending = state else { return false }
            state = .armed(scheduled)
            return true
        }
        if armed {
            Self.live.wrappingAdd(1, ordering: .relaxed)
        } else {
            scheduled.cancel()
        }
    }

    /// Called by the task; returns whether the session should be closed (false once it was cancelled).
    func fire() -> Bool {
        let previous = self.state.withLockedValue { state -> State in
            defer { state = .finished }
            return state
        }
        switch previous {
        case .pending:
            return true
        case .armed:
            Self.live.wrappingSubtract(1, ordering: .relaxed)
            return true
        case .finished:
            return false
        }
    }

    /// Called when the session ends, whatever ended it.
    func cancel() {
        let previous = self.state.withLockedValue { state -> State in
            defer { state = .finished }
            return state
        }
        if case .armed(let scheduled) = previous {
            scheduled.cancel()
            Self.live.wrappingSubtract(1, ordering: .relaxed)
        }
    }
}
