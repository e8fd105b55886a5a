import NIOConcurrencyHelpers
import NIOCore

/// Races an async body against a deadline without waiting for a body that ignores cancellation.
///
/// A structured task group would wait for a hung child; here the caller resumes at the deadline and the body, if it
/// ever returns, is discarded. The timer runs on an event loop so tests can drive it with an embedded clock.
enum ListenerRace {
    enum Outcome: Sendable {
        case finished
        case threw(any Error)
        case timedOut
    }

    static func run(
        timeout: TimeAmount,
        on eventLoop: any EventLoop,
        _ body: @escaping @Sendable () async throws -> Void
    ) async -> Outcome {
        await withCheckedContinuation { (continuation: CheckedContinuation<Outcome, Never>) in
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
        }
    }
}
