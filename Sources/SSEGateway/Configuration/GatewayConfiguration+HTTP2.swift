extension GatewayConfiguration.Server {
    /// `server.http2`: HTTP/2, which browsers speak over TLS (offered by ALPN when `server.tls` is set), so that every
    /// `EventSource` of an origin shares one connection instead of six at most.
    public struct HTTP2: Sendable, Equatable {
        /// Also accept cleartext HTTP/2 with prior knowledge (h2c) on a plain listener, for proxies that speak it to
        /// their backends; HTTP/1.1 requests are still served on the same port. Default false.
        public var cleartext = false
        /// Streams one connection may have open at once. Browsers share this budget between a page's event
        /// streams and its other requests, so it is well above NIO's 100. Default 256.
        public var maxConcurrentStreams = 256
        /// The flow-control window the gateway grants each stream for request bodies (publishes). Default 65535,
        /// HTTP/2's own.
        public var initialWindowSize = 65_535
        /// The largest header list a request may carry (names, values, 32 bytes per field); larger ones end the
        /// connection. Default 16384.
        public var maxHeaderListSize = 16_384
        /// Streams a client may reset within ``streamResetWindow`` before its connection is closed: NIO's guard
        /// against rapid-reset floods, high enough that a page closing and reopening its streams never trips it.
        /// Default 1000.
        public var maxStreamResets = 1000
        /// The window ``maxStreamResets`` counts over. Default 30 seconds.
        public var streamResetWindow: Duration = .seconds(30)

        public init() {}
    }
}

extension GatewayConfiguration.Server.HTTP2 {
    init(from node: ConfigNode) throws(ConfigError) {
        self.init()
        let defaults = self
        try node.object { (object) throws(ConfigError) in
            cleartext = try object.decode("cleartext", default: defaults.cleartext) { node throws(ConfigError) in
                try node.bool()
            }
            maxConcurrentStreams = try object.decode("maxConcurrentStreams", default: defaults.maxConcurrentStreams) {
                node throws(ConfigError) in try node.int(in: 1...100_000)
            }
            initialWindowSize = try object.decode("initialWindowSize", default: defaults.initialWindowSize) {
                node throws(ConfigError) in try node.byteSize(in: 65_535...2_147_483_647)
            }
            maxHeaderListSize = try object.decode("maxHeaderListSize", default: defaults.maxHeaderListSize) {
                node throws(ConfigError) in try node.byteSize(in: 1024...16_777_216)
            }
            maxStreamResets = try object.decode("maxStreamResets", default: defaults.maxStreamResets) {
                node throws(ConfigError) in try node.int(in: 1...1_000_000)
            }
            streamResetWindow = try object.decode("streamResetWindow", default: defaults.streamResetWindow) {
                node throws(ConfigError) in
                let window = try node.duration()
                guard window > .zero else { throw node.error("must be more than 0s") }
                return window
            }
        }
    }
}
