import NIOCore
import SSEGateway

/// One stream's idle and lifetime limits: owns the stream's single timer task, which reads the stream's last event
/// time when it fires.
///
/// Lives on the stream's event loop. It is released by the session's will-close listener (or by itself when it
/// closes the session), which cancels the timer and gives back its count in ``TimeoutMiddleware/liveTimers``.
final class TimeoutFilter: StreamFilter, NIOScheduledCallbackHandler {
    private let stream: SessionStream
    private let lastEvent: ServerSentEvent?
    private let counter: LiveResourceCount
    private let tracksEvents: Bool
    private var timer: TimeoutTimer
    /// The armed timer: a scheduled callback on the stream's loop, which costs no promise or closure per stream.
    private var scheduled: NIOScheduledCallback?

    init(
        stream: SessionStream,
        configuration: TimeoutMiddleware.Configuration,
        random: Double,
        counter: LiveResourceCount
    ) {
        self.stream = stream
        self.lastEvent = configuration.lastEvent
        self.counter = counter
        self.tracksEvents = configuration.idle != nil
        self.timer = TimeoutTimer(
            idle: configuration.idle.map { TimeAmount($0) },
            lifetime: configuration.maxLifetime.map { TimeoutTimer.jitteredLifetime(TimeAmount($0), random: random) },
            now: stream.eventLoop.now
        )
    }

    /// This stream's lifetime deadline, once jittered; nil without a lifetime limit.
    var lifetimeDeadline: NIODeadline? { self.timer.lifetimeDeadline }

    /// Arms the timer and registers its release; on the stream's event loop.
    func start() {
        guard case .schedule(let deadline) = self.timer.start() else { return }
        self.counter.increment()
        self.schedule(at: deadline)
        // The listener holds the filter alone (the session it is given knows the loop): the least a stream can keep.
        let filter = LoopOwned(self)
        self.stream.session.addWillCloseListener { session, _ in
            // Not awaited: a loop that has shut down would never answer. The loop runs tasks in order, so the
            // timer is released before the session's close future, which this same loop completes, is observed.
            // A filter that closed the session itself has already let go, and stops again as a no-op.
            session.eventLoop.execute { filter.value.stop() }
        }
    }

    /// Cancels the timer and gives back its count; later calls do nothing.
    func stop() {
        guard self.timer.stop() else { return }
        self.release()
    }

    private func release() {
        self.scheduled?.cancel()
        self.scheduled = nil
        self.counter.decrement()
    }

    private func fire() {
        self.scheduled = nil
        guard self.stream.isOpen else {
            self.stop()
            return
        }
        // Comments (heartbeats) are not activity: idle means no event.
        if self.tracksEvents { self.timer.eventWritten(at: self.stream.lastEventTime) }
        switch self.timer.timerFired(now: self.stream.eventLoop.now) {
        case .none:
            break
        case .schedule(let deadline):
            self.schedule(at: deadline)
        case .expire:
            // The timer has stopped itself; let go of it before the session's listeners run.
            self.release()
            if let lastEvent = self.lastEvent {
                if let retry = lastEvent.retry, lastEvent.isRetryOnly {
                    // Only a reconnection delay: sent without a data line, so the browser dispatches nothing.
                    self.stream.sendRetry(milliseconds: retry)
                } else {
                    self.stream.send(lastEvent)
                }
            }
            self.stream.session.close(reason: .timeout)
        }
    }

    private func schedule(at deadline: NIODeadline) {
        self.scheduled?.cancel()
        // Fails only on a loop that has shut down, which has no stream left to time.
        self.scheduled = try? self.stream.eventLoop.assumeIsolated().scheduleCallback(at: deadline, handler: self)
    }

    func handleScheduledCallback(eventLoop: some EventLoop) {
        self.fire()
    }
}

/// The filter as its will-close listener carries it to the stream's loop, where alone it is used. `NIOLoopBound`
/// would check that, at the cost of keeping the loop beside it in every stream's listener.
private struct LoopOwned: @unchecked Sendable {
    let value: TimeoutFilter

    init(_ value: TimeoutFilter) {
        self.value = value
    }
}
