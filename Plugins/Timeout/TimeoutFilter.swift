import NIOCore
import SSEGateway

/// One stream's idle and lifetime limits: observes which messages are written and owns the stream's single timer
/// task.
///
/// Lives on the stream's event loop. It is released by the session's will-close listener (or by itself when it
/// closes the session), which cancels the timer and gives back its count in ``TimeoutMiddleware/liveTimers``.
final class TimeoutFilter: StreamFilter, NIOScheduledCallbackHandler {
    private let stream: SessionStream
    private let lastEvent: ServerSentEvent?
    private let counter: LiveResourceCount
    private let released = ReleaseFlag()
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
        let eventLoop = self.stream.eventLoop
        let loopBound = NIOLoopBound(self, eventLoop: eventLoop)
        let released = self.released
        self.stream.session.addWillCloseListener { _, _ in
            // A filter that closed the session itself has already let go: no hop to the loop.
            guard !released.isReleased else { return }
            // Not awaited: a loop that has shut down would never answer. The loop runs tasks in order, so the
            // timer is released before the session's close future, which this same loop completes, is observed.
            eventLoop.execute { loopBound.value.stop() }
        }
    }

    func didWrite(_ kind: StreamMessageKind) {
        // Comments (heartbeats) are not activity: idle means no event.
        guard self.tracksEvents, kind == .event else { return }
        self.timer.eventWritten(now: self.stream.eventLoop.now)
    }

    /// Cancels the timer and gives back its count; later calls do nothing.
    func stop() {
        guard self.timer.stop() else { return }
        self.release()
    }

    private func release() {
        self.scheduled?.cancel()
        self.scheduled = nil
        self.released.release()
        self.counter.decrement()
    }

    private func fire() {
        self.scheduled = nil
        guard self.stream.isOpen else {
            self.stop()
            return
        }
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
