public import SSEGateway

extension TimeoutMiddleware {
    /// The settings of a `timeout` entry; each property is the key of the same name.
    public struct Configuration: Sendable, Equatable {
        /// Close a stream after this long without an event (`idle`, default off; `"0s"` is off too).
        ///
        /// Only events count (live, replayed, or sent by a middleware): comments such as heartbeats do not, since a
        /// client that receives nothing but keep-alives for this long is idle. Off by default because a quiet topic
        /// is normal for SSE: a subscriber may wait hours for the one event it needs.
        public var idle: Duration?
        /// Close a stream after a lifetime drawn uniformly from 80–100% of this (`maxLifetime`, default `"1h"`;
        /// `"0s"` turns it off).
        ///
        /// Bounding lifetimes lets clients pick up a fresh token, rebalances long-lived connections across instances
        /// after a deploy, and the jitter spreads the reconnects of clients that arrived together (as Mercure does
        /// with its write timeout). An hour costs one reconnect per client per hour.
        public var maxLifetime: Duration? = .seconds(3600)
        /// An event sent just before either limit closes the stream (`lastEvent`, default none), such as
        /// `{"retry": 2000, "type": "reconnect"}`: its `retry` sets the browser's reconnection delay.
        ///
        /// It carries an `id` only when one is configured, so by default it leaves the client's `Last-Event-ID`
        /// where the last real event put it and the client resumes without a gap. With only `retry` set it is sent
        /// as a bare `retry:` field, which the browser applies without dispatching anything; otherwise, without a
        /// `type`, the browser hands it to `onmessage` (with empty data unless `data` is set).
        public var lastEvent: ServerSentEvent?

        public init() {}
    }
}

extension TimeoutMiddleware.Configuration {
    /// Reads the settings of a `timeout` entry.
    public init(settings: ConfigObject) throws(ConfigError) {
        self.init()
        self.idle = try settings.decode("idle", default: self.idle) { node throws(ConfigError) in
            Self.nonZero(try node.duration())
        }
        self.maxLifetime = try settings.decode("maxLifetime", default: self.maxLifetime) { node throws(ConfigError) in
            Self.nonZero(try node.duration())
        }
        self.lastEvent = try settings.decodeIfPresent("lastEvent") { node throws(ConfigError) in
            try node.object { object throws(ConfigError) in try Self.event(object) }
        }
    }

    private static func nonZero(_ duration: Duration) -> Duration? {
        duration == .zero ? nil : duration
    }

    private static func event(_ object: ConfigObject) throws(ConfigError) -> ServerSentEvent {
        let retry = try object.decodeIfPresent("retry") { node throws(ConfigError) in
            UInt64(try node.int(in: 1...Int.max))
        }
        let type = try object.decodeIfPresent("type", Self.fieldValue)
        let id = try object.decodeIfPresent("id", Self.fieldValue)
        let data = try object.decode("data", default: "") { node throws(ConfigError) in try node.string() }
        return ServerSentEvent(id: id, type: type, retry: retry, data: data)
    }

    /// A single-line field: a line break would end the field and start another.
    private static func fieldValue(_ node: ConfigNode) throws(ConfigError) -> String {
        let value = try node.string()
        guard !value.isEmpty else { throw node.error("must not be empty") }
        guard !value.utf8.contains(where: { $0 == 0x0D || $0 == 0x0A || $0 == 0 }) else {
            throw node.error("must not contain CR, LF or NUL")
        }
        return value
    }
}

extension ServerSentEvent {
    /// Whether the event only sets the reconnection delay: a retry and nothing a client would dispatch or record.
    var isRetryOnly: Bool {
        self.retry != nil && self.type == nil && self.id == nil && self.data.isEmpty
    }
}
