import NIOConcurrencyHelpers
import NIOCore

/// Races an async body against a deadline without waiting for a body that ignores cancellation.
///
/// A structured task group would wait for a hung child; here the caller resumes at the deadline (or at once when it is
/// cancelled) and the body, if it ever returns, is discarded. The timer runs on an event loop so tests can drive it
/// with an embedded clock.
enum ListenerRace {
    enum Outcome: Sendable {
        case finished
        case threw(any Error)
        case timedOut
        /// The waiting task was cancelled first; the body was cancelled too.
        case cancelled
    }

    static func run(
        timeout: TimeAmount,
        on eventLoop: any EventLoop,
        _ body: @escaping @Sendable () async throws -> Void
    ) async -> Outcome {
        let cancel = NIOLockedValueBox<(cancelled: Bool, action: (@Sendable () -> Void)?)>((false, nil))
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Outcome, Never>) in
                Self.start(timeout: timeout, on: eventLoop, body, cancel: cancel, continuation: continuation)
            }
        } onCancel: {
            let action = cancel.withLockedValue { state in
                state.cancelled = true
                return state.action
            }
            action?()
        }
    }

    private static func start(
        timeout: TimeAmount,
        on eventLoop: any EventLoop,
        _ body: @escaping @Sendable () async throws -> Void,
        cancel: NIOLockedValueBox<(cancelled: Bool, action: (@Sendable () -> Void)?)>,
        continuation: CheckedContinuation<Outcome, Never>
    ) {
        let once = NIOLockedValueBox<(done: Bool, timer: Scheduled<Void>?)>((false, nil))
        let finish: @Sendable (Outcome) -> Void = { outcome in
            let timer: Scheduled<Void>?? = once.withLockedValue { state in
                if state.done { return .none }
                state.done = true
                return .some(state.timer)
            }
            guard case .some(let pendingTimer) = timer else { return }
            pendingTimer?.cancel()
            continuation.resume(returning: outcome)
        }
        let task = Task {
            do {
                try await body()
                finish(.finished)
            } catch {
                finish(.threw(error))
            }
        }
        let timer = eventLoop.scheduleTask(in: timeout) {
            task.cancel()
            finish(.timedOut)
        }
        let alreadyDone = once.withLockedValue { state -> Bool in
            if state.done { return true }
            state.timer = timer
            return false
        }
        if alreadyDone { timer.cancel() }
        let onCancel: @Sendable () -> Void = {
            finish(.cancelled)
            task.cancel()
        }
        let cancelledAlready = cancel.withLockedValue { state in
            state.action = onCancel
            return state.cancelled
        }
        if cancelledAlready { onCancel() }
    }
}
