public import SSEGateway

extension HeartbeatMiddleware {
    /// The settings of a `heartbeat` entry; each property is the key of the same name.
    ///
    /// Three mechanisms cover three ways a stream goes quiet:
    /// - ``interval``: nothing to say. A comment keeps proxies, load balancers and the client's own watchdog from
    ///   closing a healthy but idle connection.
    /// - ``tcpUserTimeout``: the client vanished without a FIN (unplugged, suspended, NAT state lost). The next
    ///   heartbeat stays unacknowledged and the kernel aborts the connection (`ETIMEDOUT`, closed as `dead_peer`);
    ///   on Linux since 5.11 this also bounds data held back by a zero window.
    /// - ``deadPeerTimeout``: the client is connected but does not read (a frozen tab, a stuck consumer). Its window
    ///   closes, the socket stays unwritable, and the session closes as `dead_peer` after this bound, unless the
    ///   core's `streams.maxBufferedBytes` closes it as `slow_consumer` first.
    public struct Configuration: Sendable, Equatable {
        /// Time without any write after which a comment is sent (`interval`, default `"15s"`): inside the 30–60 s
        /// idle timeouts of common proxies and load balancers, for 3 bytes per stream, and only on idle streams.
        public var interval: Duration = .seconds(15)
        /// Text of the comment (`comment`, default empty, which sends `:\n`: the smallest line a client ignores).
        public var comment: String = ""
        /// How long the socket may stay unwritable before the session closes as `dead_peer` (`deadPeerTimeout`,
        /// default `"30s"`; `"0s"` turns it off). Long enough for a client on a slow link to drain a burst, short
        /// enough that the bytes held for one that stopped reading are soon released.
        public var deadPeerTimeout: Duration? = .seconds(30)
        /// `TCP_USER_TIMEOUT` of the connection (`tcpUserTimeout`, default: the dead-peer timeout; `"0s"` leaves the
        /// system default, which retransmits for about 15 minutes). A vanished client is then noticed at most
        /// `interval + tcpUserTimeout` after it left. Linux only; ignored elsewhere.
        public var tcpUserTimeout: Duration? = .seconds(30)
        /// TCP keepalive probes (`tcpKeepAlive`, default off). Heartbeats already keep data flowing, and keepalive
        /// probes only run on a connection with nothing in flight: turn it on when the interval is long.
        public var tcpKeepAlive: TCPKeepAlive?

        public init() {}
    }

    /// Keepalive probing of an idle connection (`tcpKeepAlive`: `{"idle": "30s", "interval": "10s", "count": 3}`).
    ///
    /// A peer that answers none of `count` probes, sent every `interval` once the connection has been idle for
    /// `idle`, is gone: the kernel aborts the connection.
    public struct TCPKeepAlive: Sendable, Equatable {
        /// Idle time before the first probe (`idle`, default `"30s"`; whole seconds).
        public var idle: Duration = .seconds(30)
        /// Time between probes (`interval`, default `"10s"`; whole seconds).
        public var interval: Duration = .seconds(10)
        /// Unanswered probes before the connection is dropped (`count`, default 3).
        public var count: Int = 3

        public init() {}
    }
}

extension HeartbeatMiddleware.Configuration {
    /// Reads the settings of a `heartbeat` entry.
    public init(settings: ConfigObject) throws(ConfigError) {
        self.init()
        self.interval = try settings.decode("interval", default: self.interval) { node throws(ConfigError) in
            let interval = try node.duration()
            guard interval > .zero else { throw node.error("must be greater than 0s") }
            return interval
        }
        self.comment = try settings.decode("comment", default: self.comment) { node throws(ConfigError) in
            try node.string()
        }
        self.deadPeerTimeout = try settings.decode("deadPeerTimeout", default: self.deadPeerTimeout) {
            node throws(ConfigError) in
            Self.nonZero(try node.duration())
        }
        self.tcpUserTimeout = try settings.decode("tcpUserTimeout", default: self.deadPeerTimeout) {
            node throws(ConfigError) in
            let timeout = try node.duration()
            // The kernel takes milliseconds in a signed 32-bit integer.
            guard timeout <= .seconds(596 * 3600) else {
                throw node.error("must be at most 596h, got \(node.value.shortDescription)")
            }
            return Self.nonZero(timeout)
        }
        self.tcpKeepAlive = try settings.decodeIfPresent("tcpKeepAlive") { node throws(ConfigError) in
            try node.object { object throws(ConfigError) in try HeartbeatMiddleware.TCPKeepAlive(settings: object) }
        }
    }

    private static func nonZero(_ duration: Duration) -> Duration? {
        duration == .zero ? nil : duration
    }
}

extension HeartbeatMiddleware.TCPKeepAlive {
    /// Linux caps keepalive times at 32767 s and the count at 127.
    static let maxSeconds: Int64 = 32767
    static let maxCount = 127

    /// Reads a `tcpKeepAlive` object.
    public init(settings: ConfigObject) throws(ConfigError) {
        self.init()
        self.idle = try settings.decode("idle", default: self.idle, Self.seconds)
        self.interval = try settings.decode("interval", default: self.interval, Self.seconds)
        self.count = try settings.decode("count", default: self.count) { node throws(ConfigError) in
            try node.int(in: 1...Self.maxCount)
        }
    }

    private static func seconds(_ node: ConfigNode) throws(ConfigError) -> Duration {
        let duration = try node.duration()
        let (seconds, attoseconds) = duration.components
        guard attoseconds == 0, (1...Self.maxSeconds).contains(seconds) else {
            throw node.error(
                "must be a whole number of seconds from 1s to \(Self.maxSeconds)s, got \(node.value.shortDescription)")
        }
        return duration
    }
}
