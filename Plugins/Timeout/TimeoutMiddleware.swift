public import SSEGateway

/// Closes streams that stay idle too long or have lived long enough, with reason `timeout`, optionally after a
/// last event that tells the browser when to come back.
///
/// `{"use": "timeout", "idle": "5m", "maxLifetime": "1h", "lastEvent": {"retry": 2000, "type": "reconnect"}}`; see
/// ``Configuration`` for the defaults. The client reconnects with its `Last-Event-ID`, so closing loses nothing the
/// hub's history still holds.
///
/// Each stream gets an observing filter (no per-byte cost) with one timer task on its event loop, at the earlier of
/// its two deadlines; an event only records its time. The timer is cancelled by the session's will-close listener.
public final class TimeoutMiddleware: MiddlewarePlugin {
    public static let name = "timeout"

    /// Draws a number in 0...1 for each stream's lifetime: 0 gives 80% of `maxLifetime`, 1 all of it.
    public typealias RandomSource = @Sendable () -> Double

    /// The settings in force.
    public let configuration: Configuration

    private let random: RandomSource
    private let counter: LiveResourceCount

    /// Streams of this middleware whose timer is live; zero once all of them have closed. A middleware built from
    /// configuration also reports it on `/metrics` as `sse_timeout_timers_active`.
    public var liveTimers: Int { self.counter.value }

    /// Creates the middleware in code; `random` is injectable so that tests can pin each stream's lifetime.
    public convenience init(
        configuration: Configuration = Configuration(),
        random: @escaping RandomSource = { Double.random(in: 0...1) }
    ) {
        self.init(configuration: configuration, random: random, counter: LiveResourceCount())
    }

    private init(configuration: Configuration, random: @escaping RandomSource, counter: LiveResourceCount) {
        self.configuration = configuration
        self.random = random
        self.counter = counter
    }

    public convenience init(settings: ConfigObject, context: MiddlewareContext) throws(ConfigError) {
        let configuration = try Configuration(settings: settings)
        if configuration.idle == nil, configuration.maxLifetime == nil {
            context.warn("\(context.name): neither idle nor maxLifetime is set, so it closes nothing")
        }
        if let lastEvent = configuration.lastEvent, lastEvent.type == nil, lastEvent.data.isEmpty,
            !lastEvent.isRetryOnly
        {
            context.warn(
                "\(context.name): lastEvent has neither type nor data, so browsers hand it to onmessage as an empty "
                    + "message; give it a type (such as \"reconnect\") that only interested listeners handle"
            )
        }
        self.init(
            configuration: configuration,
            random: { Double.random(in: 0...1) },
            counter: LiveResourceCount(gaugeLabel: "sse_timeout_timers_active", metrics: context.metrics)
        )
    }

    /// No publish phase: a publish passes without a task.
    public func publishWithoutSuspending(_ publish: PublishContext) throws -> PhaseProgress { .finished }

    public func makeStreamFilter(for stream: SessionStream) -> (any StreamFilter)? {
        guard self.configuration.idle != nil || self.configuration.maxLifetime != nil else { return nil }
        let random = self.configuration.maxLifetime == nil ? 1 : self.random()
        let filter = TimeoutFilter(
            stream: stream,
            configuration: self.configuration,
            random: random,
            counter: self.counter
        )
        filter.start()
        return filter
    }
}
