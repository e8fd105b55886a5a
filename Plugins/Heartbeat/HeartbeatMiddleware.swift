public import SSEGateway

/// Keeps idle streams alive with comment lines and closes streams whose client is gone or stopped reading.
///
/// `{"use": "heartbeat", "interval": "15s", "comment": "", "deadPeerTimeout": "30s", "tcpUserTimeout": "30s",
/// "tcpKeepAlive": {"idle": "30s", "interval": "10s", "count": 3}}`; see ``Configuration`` for what each key
/// catches. A comment goes out only after `interval` without any write, so streams whose events flow faster never
/// carry one; it passes through the stream's filters (compression) like any message.
///
/// Each stream gets an observing filter (no per-byte cost) with one timer task on its event loop; a write only
/// records its time. The timer is cancelled by the session's will-close listener.
public final class HeartbeatMiddleware: MiddlewarePlugin {
    public static let name = "heartbeat"

    /// The settings in force.
    public let configuration: Configuration

    private let socketOptions: DeadPeerSocketOptions
    private let counter: LiveResourceCount
    private let log: @Sendable (String) -> Void

    /// Streams of this middleware whose timer is live; zero once all of them have closed. A middleware built from
    /// configuration also reports it on `/metrics` as `sse_heartbeat_timers_active`.
    public var liveTimers: Int { self.counter.value }

    /// Creates the middleware in code; `log` receives problems worth a debug line (a socket option refused).
    public convenience init(
        configuration: Configuration = Configuration(),
        log: @escaping @Sendable (String) -> Void = { _ in }
    ) {
        self.init(configuration: configuration, counter: LiveResourceCount(), log: log)
    }

    public convenience init(settings: ConfigObject, context: MiddlewareContext) throws(ConfigError) {
        let logger = context.logger
        self.init(
            configuration: try Configuration(settings: settings),
            counter: LiveResourceCount(gaugeLabel: "sse_heartbeat_timers_active", metrics: context.metrics)
        ) { message in logger.debug("\(message)") }
    }

    private init(
        configuration: Configuration,
        counter: LiveResourceCount,
        log: @escaping @Sendable (String) -> Void
    ) {
        self.configuration = configuration
        self.socketOptions = DeadPeerSocketOptions(configuration)
        self.counter = counter
        self.log = log
    }

    /// No publish phase: a publish passes without a task.
    public func publishWithoutSuspending(_ publish: PublishContext) throws -> PhaseProgress { .finished }

    public func makeStreamFilter(for stream: SessionStream) -> (any StreamFilter)? {
        let filter = HeartbeatFilter(stream: stream, configuration: self.configuration, counter: self.counter)
        filter.start(socketOptions: self.socketOptions, log: self.log)
        return filter
    }
}
