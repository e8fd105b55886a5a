import Logging
import NIOConcurrencyHelpers
import NIOCore
public import UnixSignals

extension GatewayServer {
    /// Runs the shutdown sequence once per server: a later or concurrent caller waits for the same run. Cancelling a
    /// caller cuts the sequence short, as a second signal does.
    func shutdownOnce(trappingSignals: Bool) async -> ShutdownExitCode {
        let task = self.sequenceTask.withLockedValue { task in
            if let task { return task }
            let started = Task { await self.runShutdownSequence(trappingSignals: trappingSignals) }
            task = started
            return started
        }
        return await withTaskCancellationHandler {
            await task.value
        } onCancel: {
            task.cancel()
        }
    }

    /// Drives ``ShutdownSequence``: performs each action, logs each step with its duration, and races the whole
    /// against `shutdown.hardDeadline`, a second shutdown signal (when `trappingSignals`) and cancellation; then
    /// shuts down the event loops the server owns.
    private func runShutdownSequence(trappingSignals: Bool) async -> ShutdownExitCode {
        let settings = self.configuration.shutdown
        let handlers = self.context.shutdownHandlers.runOrder
        var machine = ShutdownSequence(configuration: settings, handlers: handlers.map(\.name))
        let first = machine.start()
        let state = NIOLockedValueBox(machine)
        let (codes, sink) = AsyncStream.makeStream(of: ShutdownExitCode.self)
        let started = ContinuousClock.now
        let logger = self.logger
        // Installed before the first step, so a second signal is never lost (the service group ignores repeats).
        let interrupts = trappingSignals ? await UnixSignalsSequence(trapping: settings.signals.map(\.unixSignal)) : nil

        let sequence = Task {
            var action = first
            while true {
                let stepStarted = ContinuousClock.now
                var metadata: Logger.Metadata = ["step": "\(action.stepName)"]
                switch action {
                case .exit(let code):
                    sink.yield(code)
                    return
                case .none:
                    return
                case .runHandler(let name, let timeout):
                    // The plan holds only registered names, so the lookup always succeeds.
                    var outcome = ShutdownSequence.HandlerOutcome.finished
                    if let entry = handlers.first(where: { $0.name == name }) {
                        outcome = await self.runShutdownHandler(name: name, timeout: timeout, handler: entry.handler)
                    }
                    metadata["handler"] = "\(name)"
                    metadata["outcome"] = "\(outcome)"
                    Self.log(logger, metadata, since: stepStarted, level: outcome == .finished ? .info : .error)
                    action = state.withLockedValue { $0.handlerFinished(outcome) }
                default:
                    metadata.merge(await self.perform(action)) { _, new in new }
                    guard !Task.isCancelled else { return }
                    Self.log(logger, metadata, since: stepStarted, level: .info)
                    action = state.withLockedValue { $0.stepFinished() }
                }
            }
        }
        let cutShort: @Sendable (String) -> Void = { message in
            if case .exit(let code) = state.withLockedValue({ $0.signalReceived() }) {
                logger.warning("\(message)", metadata: ["exitCode": "\(code.rawValue)"])
                sequence.cancel()
                sink.yield(code)
            }
        }
        let deadline = self.hub.shards[0].eventLoop.scheduleTask(in: TimeAmount(settings.hardDeadline)) {
            if case .exit(let code) = state.withLockedValue({ $0.deadlineReached() }) {
                logger.error("shutdown hard deadline reached", metadata: ["exitCode": "\(code.rawValue)"])
                sequence.cancel()
                sink.yield(code)
            }
        }
        let watcher = interrupts.map { interrupts in
            Task {
                for await signal in interrupts {
                    cutShort("second shutdown signal (\(signal)): fast exit")
                    return
                }
            }
        }
        let code = await withTaskCancellationHandler {
            var iterator = codes.makeAsyncIterator()
            return await iterator.next() ?? .fastExit
        } onCancel: {
            cutShort("shutdown cancelled: fast exit")
        }
        deadline.cancel()
        watcher?.cancel()
        sink.finish()
        // The caller may be cancelled (that is how it asked for a fast exit); the cleanup must still wait.
        return await Task { await self.finishShutdown(code: code, sequence: sequence, started: started) }.value
    }

    /// Ends the sequence's task, closes what a cut-short sequence left open, and stops the server's event loops.
    private func finishShutdown(
        code: ShutdownExitCode, sequence: Task<Void, Never>, started: ContinuousClock.Instant
    ) async -> ShutdownExitCode {
        // Every wait in the sequence responds to cancellation, so it ends at once; it must, before the loops stop.
        sequence.cancel()
        await sequence.value
        var listenersDone = true
        if code == .fastExit || code == .deadlineExceeded {
            listenersDone = await self.abandonOpenWork(waitingAtMost: .seconds(1))
        }
        self.logger.info(
            "shutdown sequence ended",
            metadata: [
                "exitCode": "\(code.rawValue)",
                "ms": "\(Int((ContinuousClock.now - started) / .milliseconds(1)))",
            ]
        )
        self.exitCode.store(code.rawValue, ordering: .relaxed)
        for mount in self.context.mounts.mounts {
            await mount.shared?.stop()
        }
        for barrier in self.context.pollBarriers.values {
            _ = await barrier.eventLoop.submit { barrier.close() }.valueUnlessCancelled()
        }
        if self.ownsGroup {
            if listenersDone {
                try? await self.group.shutdownGracefully()
            } else {
                // A listener still running may yet schedule work on its loop, which a stopped loop cannot take.
                self.logger.warning("event loops left running: will-close listeners did not finish")
            }
        }
        self.logger.info("stopped", metadata: ["exitCode": "\(code.rawValue)"])
        return code
    }

    private static func log(
        _ logger: Logger, _ metadata: Logger.Metadata, since start: ContinuousClock.Instant, level: Logger.Level
    ) {
        var metadata = metadata
        metadata["ms"] = "\(Int((ContinuousClock.now - start) / .milliseconds(1)))"
        logger.log(level: level, "shutdown step", metadata: metadata)
    }

    /// Performs one step; returns what is worth logging about it.
    private func perform(_ action: ShutdownSequence.Action) async -> Logger.Metadata {
        switch action {
        case .markNotReady:
            self.context.ready.store(false, ordering: .relaxed)
        case .waitGrace(let grace):
            try? await Task.sleep(for: grace)
        case .closeListener:
            self.context.closing.store(true, ordering: .relaxed)
            self.context.tls?.stopWatching()
            let channel = self.serverChannel.withLockedValue { $0 }
            _ = await channel?.close(mode: .all).valueUnlessCancelled()
            // HTTP/2 clients learn that no new stream will be taken; the open ones get the notice next.
            self.context.http2Connections.quiesceAll()
        case .sendNotice:
            let notice = self.configuration.shutdown.notice
            // Every loop notifies its own streams at the same time.
            let counts = self.hub.shards.map { shard in
                shard.eventLoop.submit {
                    var generator = SystemRandomNumberGenerator()
                    var count = 0
                    shard.forEachStream { stream in
                        if stream.sendMessageEvent(notice.event(using: &generator)) { count += 1 }
                    }
                    return count
                }
            }
            let notified = await EventLoopFuture.whenAllSucceed(counts, on: self.hub.shards[0].eventLoop)
                .valueUnlessCancelled()
            return ["streams": "\(notified?.reduce(0, +) ?? 0)"]
        case .drain(let budget):
            let left = await self.waitForNoSessions(atMost: budget)
            return ["remaining": "\(left ? 0 : await self.openSessionCount())"]
        case .closeSessions:
            return ["sessions": "\(await self.closeAllSessions(reason: .serverShutdown))"]
        case .runHandler, .exit, .none:
            break
        }
        return [:]
    }

    /// Waits until every session has closed, for at most `budget`; true when they all did.
    private func waitForNoSessions(atMost budget: Duration) async -> Bool {
        let empty = EventLoopFuture.andAllSucceed(
            self.hub.shards.map { shard in shard.eventLoop.flatSubmit { shard.whenNoSessions() } },
            on: self.hub.shards[0].eventLoop
        )
        let drained = await empty.succeeds(within: budget)
        for shard in self.hub.shards {
            shard.eventLoop.execute { shard.cancelNoSessionWaiters() }
        }
        return drained
    }

    private func openSessionCount() async -> Int {
        var count = 0
        for shard in self.hub.shards {
            count += await shard.eventLoop.submit { shard.sessions.count }.valueUnlessCancelled() ?? 0
        }
        return count
    }

    /// A sequence cut short still refuses new work and closes every session; returns whether their will-close
    /// listeners finished within `bound`.
    private func abandonOpenWork(waitingAtMost bound: Duration) async -> Bool {
        self.context.ready.store(false, ordering: .relaxed)
        self.context.closing.store(true, ordering: .relaxed)
        self.context.tls?.stopWatching()
        let channel = self.serverChannel.withLockedValue { $0 }
        channel?.close(promise: nil)
        self.context.http2Connections.quiesceAll()
        return await self.closeSessions(reason: .serverShutdown).listenersDone.succeeds(within: bound)
    }

    /// Closes every open session and waits until their listeners have run; returns how many it closed.
    private func closeAllSessions(reason: CloseReason) async -> Int {
        let closing = await self.closeSessions(reason: reason)
        _ = await closing.listenersDone.valueUnlessCancelled()
        return closing.count
    }

    /// Closes every open session with `reason`; `listenersDone` succeeds once all their will-close listeners ran.
    private func closeSessions(reason: CloseReason) async -> (count: Int, listenersDone: EventLoopFuture<Void>) {
        // Every loop closes its own sessions at the same time.
        let closing = self.hub.shards.map { shard in
            shard.eventLoop.submit { () -> [EventLoopFuture<CloseReason>] in
                let sessions = Array(shard.sessions.values)
                for session in sessions { session.close(reason: reason) }
                return sessions.map(\.closeFuture)
            }
        }
        let loop = self.hub.shards[0].eventLoop
        let futures =
            await EventLoopFuture.whenAllSucceed(closing, on: loop).valueUnlessCancelled()?.flatMap { $0 } ?? []
        return (futures.count, EventLoopFuture.andAllComplete(futures, on: loop))
    }

    func runShutdownHandler(
        name: String,
        timeout: Duration,
        handler: @escaping ShutdownHandlerRegistry.Handler
    ) async -> ShutdownSequence.HandlerOutcome {
        let outcome = await ListenerRace.run(timeout: TimeAmount(timeout), on: self.hub.shards[0].eventLoop, handler)
        switch outcome {
        case .finished:
            return .finished
        case .threw(let error):
            self.logger.error("shutdown handler threw: \(error)", metadata: ["handler": "\(name)"])
            return .threw
        case .timedOut:
            self.logger.error("shutdown handler timed out", metadata: ["handler": "\(name)"])
            return .timedOut
        case .cancelled:
            self.logger.error("shutdown handler cut short", metadata: ["handler": "\(name)"])
            return .timedOut
        }
    }
}

extension GatewayConfiguration.ShutdownSignal {
    /// The signal as swift-service-lifecycle names it, for a `ServiceGroup`'s `gracefulShutdownSignals`.
    public var unixSignal: UnixSignal {
        switch self {
        case .sigterm: .sigterm
        case .sigint: .sigint
        case .sighup: .sighup
        case .sigquit: .sigquit
        case .sigusr1: .sigusr1
        case .sigusr2: .sigusr2
        }
    }
}
