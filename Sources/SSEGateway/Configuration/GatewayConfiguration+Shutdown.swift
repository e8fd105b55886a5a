extension GatewayConfiguration {
    /// The graceful-shutdown sequence and its budgets (the `shutdown` section).
    ///
    /// On the first of ``signals`` the gateway: turns `/readyz` to 503 for ``readinessGrace``; closes the listener
    /// and answers hub requests with 503 and `Retry-After`; sends every open stream ``notice`` with a random
    /// `retry` from its range; waits up to ``drainTimeout`` for clients to leave; closes the rest with reason
    /// ``CloseReason/serverShutdown``; runs the shutdown handlers, last registered first, each under its timeout
    /// from ``handlers`` or ``handlerTimeout``. ``hardDeadline`` bounds the whole sequence.
    public struct Shutdown: Sendable, Equatable {
        /// Signals that start the sequence; a second one during it makes the gateway exit at once.
        /// Default `["SIGTERM", "SIGINT"]`.
        public var signals: [ShutdownSignal] = [.sigterm, .sigint]
        /// How long `/readyz` answers 503 before the listener closes, so load balancers stop routing here.
        /// Default 5 seconds.
        public var readinessGrace: Duration = .seconds(5)
        /// How long to wait for clients to leave after the notice before closing the remaining streams.
        /// Default 10 seconds.
        public var drainTimeout: Duration = .seconds(10)
        /// The event every open stream gets when the listener closes.
        public var notice = Notice()
        /// How long a shutdown handler not named in ``handlers`` may run. Default 5 seconds.
        public var handlerTimeout: Duration = .seconds(5)
        /// Timeouts of shutdown handlers by name. Default: none.
        public var handlers: [String: Duration] = [:]
        /// The bound on the whole sequence; reaching it exits at once. Default 25 seconds, which leaves room inside
        /// Kubernetes' default `terminationGracePeriodSeconds` of 30.
        public var hardDeadline: Duration = .seconds(25)

        public init() {}

        /// The timeout of the handler called `name`.
        public func timeout(forHandler name: String) -> Duration {
            self.handlers[name] ?? self.handlerTimeout
        }

        /// The event sent to open streams when shutdown closes the listener.
        public struct Notice: Sendable, Equatable {
            /// The event's type (`event:` line). Default `"shutdown"`.
            public var event = "shutdown"
            /// The event's data. Default `"server shutting down"`.
            public var data = "server shutting down"
            /// The least reconnection delay a client is told (`retry:`). Default 1 second.
            public var retryMin: Duration = .seconds(1)
            /// The greatest reconnection delay a client is told; each client gets a random value in
            /// ``retryMin``...``retryMax`` so reconnects spread out. Default 10 seconds.
            public var retryMax: Duration = .seconds(10)

            public init() {}
        }
    }

    /// A signal that can start the shutdown sequence, named as in the configuration file.
    public enum ShutdownSignal: String, Sendable, CaseIterable {
        case sigterm = "SIGTERM"
        case sigint = "SIGINT"
        case sighup = "SIGHUP"
        case sigquit = "SIGQUIT"
        case sigusr1 = "SIGUSR1"
        case sigusr2 = "SIGUSR2"
    }
}

extension GatewayConfiguration.Shutdown {
    init(from node: ConfigNode) throws(ConfigError) {
        self.init()
        let defaults = self
        try node.object { (object) throws(ConfigError) in
            signals = try object.decode("signals", default: defaults.signals) { node throws(ConfigError) in
                let signals = try node.array { element throws(ConfigError) in
                    try element.oneOf(GatewayConfiguration.ShutdownSignal.self)
                }
                guard !signals.isEmpty else { throw node.error("must name at least one signal") }
                return signals
            }
            readinessGrace = try object.decode("readinessGrace", default: defaults.readinessGrace) {
                node throws(ConfigError) in try node.duration()
            }
            drainTimeout = try object.decode("drainTimeout", default: defaults.drainTimeout) {
                node throws(ConfigError) in try node.duration()
            }
            notice = try object.decode("notice", default: defaults.notice) { node throws(ConfigError) in
                try Notice(from: node)
            }
            handlerTimeout = try object.decode("handlerTimeout", default: defaults.handlerTimeout) {
                node throws(ConfigError) in try node.duration()
            }
            handlers = try object.decode("handlers", default: defaults.handlers) { node throws(ConfigError) in
                let members = try node.object()
                var timeouts: [String: Duration] = [:]
                for key in members.keys {
                    timeouts[key] = try members.require(key) { node throws(ConfigError) in try node.duration() }
                }
                return timeouts
            }
            hardDeadline = try object.decode("hardDeadline", default: defaults.hardDeadline) {
                node throws(ConfigError) in
                let deadline = try node.duration()
                guard deadline > .zero else { throw node.error("must be greater than zero") }
                return deadline
            }
        }
        let fixed = readinessGrace + drainTimeout
        guard fixed < hardDeadline else {
            throw ConfigError(
                path: ConfigNode.childPath(node.path, key: "hardDeadline"),
                message: "\(hardDeadline) cannot hold readinessGrace + drainTimeout (\(fixed))"
            )
        }
    }

    /// Advice about budgets that may not fit inside ``hardDeadline``.
    func budgetWarnings() -> [String] {
        var warnings: [String] = []
        let handlerBudget = self.handlers.values.reduce(Duration.zero, +)
        let total = self.readinessGrace + self.drainTimeout + handlerBudget
        if total > self.hardDeadline {
            warnings.append(
                "shutdown: readinessGrace + drainTimeout + the handler timeouts (\(total)) exceed hardDeadline "
                    + "(\(self.hardDeadline)): handlers may be cut off by the deadline"
            )
        }
        return warnings
    }

    /// One warning per name in ``handlers`` that no shutdown handler is registered under.
    public func unknownHandlerWarnings(registered: [String]) -> [String] {
        self.handlers.keys.sorted().filter { !registered.contains($0) }.map {
            "shutdown.handlers.\($0): no shutdown handler is registered under this name"
        }
    }
}

extension GatewayConfiguration.Shutdown.Notice {
    init(from node: ConfigNode) throws(ConfigError) {
        self.init()
        let defaults = self
        try node.object { (object) throws(ConfigError) in
            event = try object.decode("event", default: defaults.event) { node throws(ConfigError) in
                let event = try node.string()
                guard !event.contains(where: \.isNewline) else { throw node.error("must be a single line") }
                return event
            }
            data = try object.decode("data", default: defaults.data) { node throws(ConfigError) in try node.string() }
            retryMin = try object.decode("retryMin", default: defaults.retryMin) { node throws(ConfigError) in
                try node.duration()
            }
            retryMax = try object.decode("retryMax", default: defaults.retryMax) { node throws(ConfigError) in
                try node.duration()
            }
        }
        guard retryMin <= retryMax else {
            throw ConfigError(
                path: ConfigNode.childPath(node.path, key: "retryMax"),
                message: "must not be less than retryMin (\(retryMin))"
            )
        }
    }

    /// The notice for one client, with a `retry` drawn from the configured range.
    func event(using generator: inout some RandomNumberGenerator) -> ServerSentEvent {
        let low = UInt64(self.retryMin / .milliseconds(1))
        let high = UInt64(self.retryMax / .milliseconds(1))
        return ServerSentEvent(
            type: self.event,
            retry: UInt64.random(in: low...high, using: &generator),
            data: self.data
        )
    }
}
