import Logging
import NIOConcurrencyHelpers
import NIOCore

/// One session's run of a ``StreamHandler``: a task that starts when the stream opens and is cancelled the moment the
/// session closes; its end closes the session (``CloseReason/completed`` or ``CloseReason/handlerFailed``).
final class StreamHandlerRun: Sendable {
    let handler: any StreamHandler
    let session: Session
    private let logger: Logger
    private let metrics: GatewayMetrics
    /// The running task, and when the session closed (from then on, the task is cancelled).
    private let state = NIOLockedValueBox<(task: Task<Void, Never>?, closedAt: ContinuousClock.Instant?)>((nil, nil))

    init(handler: any StreamHandler, session: Session, logger: Logger, metrics: GatewayMetrics) {
        self.handler = handler
        self.session = session
        var logger = logger
        logger[metadataKey: "session"] = "\(session.id)"
        self.logger = logger
        self.metrics = metrics
    }

    /// Starts the handler's task; called on the session's loop once the stream's head is written.
    func start(writer: StreamWriter) {
        let session = self.session
        let handler = self.handler
        let logger = self.logger
        let metrics = self.metrics
        let state = self.state
        metrics.streamHandlersActive.increment()
        let task = Task {
            let outcome: Result<Void, any Error>
            do {
                try await handler.stream(session, to: writer)
                outcome = .success(())
            } catch {
                outcome = .failure(error)
            }
            metrics.streamHandlersActive.decrement()
            if let closed = state.withLockedValue({ $0.closedAt }) {
                // Closed first: whatever the handler did since went nowhere. One that kept going long after the
                // cancellation ignores it, which its author should know.
                let late = closed.duration(to: .now)
                if late > .milliseconds(100) {
                    logger.warning(
                        "stream handler returned long after its session closed; it does not stop when cancelled",
                        metadata: ["after": "\(late)"])
                }
                return
            }
            switch outcome {
            case .success:
                session.close(reason: .completed)
            case .failure(let error) where session.isClosed:
                _ = error
            case .failure(let error):
                metrics.streamHandlerFailures.increment()
                logger.error("stream handler failed", metadata: ["error": "\(error)"])
                session.close(reason: .handlerFailed)
            }
        }
        let cancelled = state.withLockedValue { state -> Bool in
            state.task = task
            return state.closedAt != nil
        }
        if cancelled { task.cancel() }
        // The stream's teardown cancels at the start of the close; this covers a session closed without one.
        session.closeFuture.whenComplete { _ in self.cancel() }
    }

    /// Cancels the handler's task: the session is closing. Called by the stream's teardown, before the session's
    /// will-close listeners run, so that a slow listener does not delay it.
    func cancel() {
        let task = self.state.withLockedValue { state -> Task<Void, Never>? in
            if state.closedAt == nil { state.closedAt = .now }
            return state.task
        }
        task?.cancel()
    }
}
