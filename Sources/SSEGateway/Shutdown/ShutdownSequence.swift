/// The order of the graceful-shutdown steps, as a state machine without effects: the coordinator reports what
/// happened and performs the action it gets back, so the order can be tested without a server.
struct ShutdownSequence: Sendable {
    enum Action: Sendable, Equatable {
        /// Make `/readyz` answer 503.
        case markNotReady
        /// Wait for load balancers to notice, for `shutdown.readinessGrace`.
        case waitGrace(Duration)
        /// Stop accepting connections; answer hub requests on open connections with 503 and `Retry-After`.
        case closeListener
        /// Send every open stream the notice, each with its own `retry`.
        case sendNotice
        /// Wait for clients to leave, for at most the given budget.
        case drain(Duration)
        /// Close every remaining session with reason ``CloseReason/serverShutdown``.
        case closeSessions
        /// Run one shutdown handler under its timeout.
        case runHandler(name: String, timeout: Duration)
        /// The sequence is over: exit with this code.
        case exit(ShutdownExitCode)
        /// Nothing to do (an event arrived after the sequence ended).
        case none

        /// The name the step is logged under.
        var stepName: String {
            switch self {
            case .markNotReady: "readiness"
            case .waitGrace: "grace"
            case .closeListener: "close-listener"
            case .sendNotice: "notice"
            case .drain: "drain"
            case .closeSessions: "close-sessions"
            case .runHandler: "handler"
            case .exit: "exit"
            case .none: "none"
            }
        }
    }

    enum HandlerOutcome: Sendable, Equatable {
        case finished
        case threw
        case timedOut
    }

    private enum State: Sendable {
        case idle
        case running(next: Int)
        case finished
    }

    private let plan: [Action]
    private var state = State.idle
    private var handlerFailed = false

    /// - Parameter handlers: the registered handler names in the order they run (last registered first).
    init(configuration: GatewayConfiguration.Shutdown, handlers: [String]) {
        self.plan =
            [
                .markNotReady,
                .waitGrace(configuration.readinessGrace),
                .closeListener,
                .sendNotice,
                .drain(configuration.drainTimeout),
                .closeSessions,
            ]
            + handlers.map { .runHandler(name: $0, timeout: configuration.timeout(forHandler: $0)) }
    }

    var isFinished: Bool {
        if case .finished = self.state { return true }
        return false
    }

    /// The first signal: the first step. Later calls do nothing.
    mutating func start() -> Action {
        guard case .idle = self.state else { return .none }
        return self.advance(from: 0)
    }

    /// The step last returned (other than a handler) is done.
    mutating func stepFinished() -> Action {
        guard case .running(let next) = self.state else { return .none }
        return self.advance(from: next)
    }

    /// The handler last returned ended this way.
    mutating func handlerFinished(_ outcome: HandlerOutcome) -> Action {
        guard case .running(let next) = self.state else { return .none }
        if outcome != .finished { self.handlerFailed = true }
        return self.advance(from: next)
    }

    /// A shutdown signal arrived while the sequence runs: skip to a fast exit.
    mutating func signalReceived() -> Action {
        guard case .running = self.state else { return .none }
        self.state = .finished
        return .exit(.fastExit)
    }

    /// `shutdown.hardDeadline` passed.
    mutating func deadlineReached() -> Action {
        guard case .running = self.state else { return .none }
        self.state = .finished
        return .exit(.deadlineExceeded)
    }

    private mutating func advance(from index: Int) -> Action {
        guard index < self.plan.count else {
            self.state = .finished
            return .exit(self.handlerFailed ? .handlerFailed : .clean)
        }
        self.state = .running(next: index + 1)
        return self.plan[index]
    }
}
