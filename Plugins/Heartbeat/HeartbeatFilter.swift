import NIOCore
import SSEGateway

/// One stream's heartbeat: observes writability and owns the stream's single timer task, which reads the stream's
/// last write time when it fires.
///
/// Lives on the stream's event loop. It is released by the session's will-close listener (or by itself when it
/// closes the session), which cancels the timer and gives back its count in ``HeartbeatMiddleware/liveTimers``.
final class HeartbeatFilter: StreamFilter, NIOScheduledCallbackHandler {
    private let stream: SessionStream
    private let comment: String
    private let counter: LiveResourceCount
    private var timer: HeartbeatTimer
    /// The armed timer: a scheduled callback on the stream's loop, which costs no promise or closure per stream.
    private var scheduled: NIOScheduledCallback?

    init(stream: SessionStream, configuration: HeartbeatMiddleware.Configuration, counter: LiveResourceCount) {
        self.stream = stream
        self.comment = configuration.comment
        self.counter = counter
        self.timer = HeartbeatTimer(
            interval: TimeAmount(configuration.interval),
            deadPeerTimeout: configuration.deadPeerTimeout.map { TimeAmount($0) },
            now: stream.eventLoop.now
        )
    }

    /// Arms the timer, registers its release and sets the socket options; on the stream's event loop.
    func start(socketOptions: DeadPeerSocketOptions, log: @escaping @Sendable (String) -> Void) {
        let eventLoop = self.stream.eventLoop
        let action = self.timer.start(now: eventLoop.now)
        guard action != .none else { return }
        self.counter.increment()
        self.perform(action)

        // The listener holds the filter alone (the session it is given knows the loop): the least a stream can keep.
        let filter = LoopOwned(self)
        self.stream.session.addWillCloseListener { session, _ in
            // Not awaited: a loop that has shut down would never answer. The loop runs tasks in order, so the
            // timer is released before the session's close future, which this same loop completes, is observed.
            // A filter that closed the session itself has already let go, and stops again as a no-op.
            session.eventLoop.execute { filter.value.stop() }
        }

        for setting in socketOptions.settings {
            self.stream.setSocketOption(setting.option, value: setting.value).whenFailure { error in
                log("could not set \(setting.name)=\(setting.value): \(error)")
            }
        }
    }

    func writabilityChanged(isWritable: Bool) {
        self.perform(self.timer.writabilityChanged(isWritable: isWritable, now: self.stream.eventLoop.now))
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
        self.timer.didWrite(at: self.stream.lastWriteTime)
        self.perform(self.timer.timerFired(now: self.stream.eventLoop.now))
    }

    private func perform(_ action: HeartbeatTimer.Action) {
        switch action {
        case .none:
            break
        case .schedule(let deadline):
            self.schedule(at: deadline)
        case .sendHeartbeat(let deadline):
            self.stream.sendComment(self.comment)
            self.schedule(at: deadline)
        case .closeDeadPeer:
            // The timer has stopped itself; let go of it before the session's listeners run.
            self.release()
            self.stream.session.close(reason: .deadPeer)
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
    let value: HeartbeatFilter

    init(_ value: HeartbeatFilter) {
        self.value = value
    }
}
