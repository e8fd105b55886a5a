import NIOConcurrencyHelpers
import NIOCore
import SSEGateway

/// The timer that closes one session when its token expires, armed once and ended exactly once: by firing or by
/// the session's will-close listener.
///
/// While armed it counts in its middleware's ``LiveResourceCount``, so a test can prove that none outlives its
/// session.
final class ExpiryTimer: Sendable {
    private enum State {
        case pending
        case armed(Scheduled<Void>)
        case finished
    }

    private let state = NIOLockedValueBox(State.pending)
    private let counter: LiveResourceCount

    init(counter: LiveResourceCount) {
        self.counter = counter
    }

    /// Hands over the scheduled task; cancels it at once when the session has already ended.
    func arm(_ scheduled: Scheduled<Void>) {
        let armed = self.state.withLockedValue { state -> Bool in
            guard case .pending = state else { return false }
            state = .armed(scheduled)
            return true
        }
        if armed {
            self.counter.increment()
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
            self.counter.decrement()
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
            self.counter.decrement()
        }
    }
}
