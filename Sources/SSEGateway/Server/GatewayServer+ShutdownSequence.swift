import Logging
import NIOConcurrencyHelpers
import NIOCore
public import UnixSignals

extension GatewayServer {
    /// Drives ``ShutdownSequence``: performs each action, logs each step with its duration, and races the whole
    /// against `shutdown.hardDeadline` and a second shutdown signal.
    func runShutdownSequence() async -> ShutdownExitCode {
        self.stopping.store(true, ordering: .relaxed)
        let settings = self.configuration.shutdown
        let handlers = self.context.shutdownHandlers.runOrder
        var machine = ShutdownSequence(configuration: settings, handlers: handlers.map(\.name))
        let first = machine.start()
        let state = NIOLockedValueBox(machine)
        let (codes, sink) = AsyncStream.makeStream(of: ShutdownExitCode.self)
        let started = ContinuousClock.now
        let interrupts = await UnixSignalsSequence(trapping: settings.signals.map(\.unixSignal))

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
                    Self.log(self.logger, metadata, since: stepStarted, level: outcome == .finished ? .info : .error)
                    action = state.withLockedValue { $0.handlerFinished(outcome) }
                default:
                    await self.perform(action)
                    guard !Task.isCancelled else { return }
                    Self.log(self.logger, metadata, since: stepStarted, level: .info)
                    action = state.withLockedValue { $0.stepFinished() }
                }
            }
        }
        let deadline = self.hub.shards[0].eventLoop.scheduleTask(in: TimeAmount(settings.hardDeadline)) {
            if case .exit(let code) = state.withLockedValue({ $0.deadlineReached() }) {
                self.logger.error("shutdown hard deadline reached", metadata: ["exitCode": "\(code.rawValue)"])
                sequence.cancel()
                sink.yield(code)
            }
        }
        let watcher = Task {
            for await signal in interrupts {
                if case .exit(let code) = state.withLockedValue({ $0.signalReceived() }) {
                    self.logger.warning(
                        "second shutdown signal: fast exit",
                        metadata: ["signal": "\(signal)", "exitCode": "\(code.rawValue)"]
                    )
                    sequence.cancel()
                    sink.yield(code)
                }
                return
            }
        }
        var iterator = codes.makeAsyncIterator()
        let code = await iterator.next() ?? .fastExit
        deadline.cancel()
        watcher.cancel()
        sink.finish()
        self.logger.info(
            "shutdown sequence ended",
            metadata: [
                "exitCode": "\(code.rawValue)",
                "ms": "\(Int((ContinuousClock.now - started) / .milliseconds(1)))",
            ]
        )
        return code
    }

    private static func log(
        _ logger: Logger, _ metadata: Logger.Metadata, since start: ContinuousClock.Instant, level: Logger.Level
    ) {
        var metadata = metadata
        metadata["ms"] = "\(Int((ContinuousClock.now - start) / .milliseconds(1)))"
        logger.log(level: level, "shutdown step", metadata: metadata)
    }

    private func perform(_ action: ShutdownSequence.Action) async {
        switch action {
        case .markNotReady:
            self.context.ready.store(false, ordering: .relaxed)
        case .waitGrace(let grace):
            try? await Task.sleep(for: grace)
        case .closeListener:
            self.context.closing.store(true, ordering: .relaxed)
            let channel = self.serverChannel.withLockedValue { $0 }
            _ = await channel?.close(mode: .all).valueUnlessCancelled()
        case .sendNotice:
            let notice = self.configuration.shutdown.notice
            for shard in self.hub.shards {
                _ = await shard.eventLoop.submit {
                    var generator = SystemRandomNumberGenerator()
                    shard.forEachStream { stream in
                        _ = stream.sendMessageEvent(notice.event(using: &generator))
                    }
                }.valueUnlessCancelled()
            }
        case .drain(let budget):
            let end = ContinuousClock.now + budget
            while ContinuousClock.now < end, !Task.isCancelled, await self.openSessionCount() > 0 {
                try? await Task.sleep(for: .milliseconds(20))
            }
        case .closeSessions:
            await self.closeAllSessions(reason: .serverShutdown)
        case .runHandler, .exit, .none:
            break
        }
    }

    private func openSessionCount() async -> Int {
        var count = 0
        for shard in self.hub.shards {
            count += await shard.eventLoop.submit { shard.sessions.count }.valueUnlessCancelled() ?? 0
        }
        return count
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
