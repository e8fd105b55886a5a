extension GatewayConfiguration.Server {
    /// `server.tls`: serve HTTPS on the listener, so that browsers can use HTTP/2 (they do only over TLS) and the
    /// gateway can run without a proxy in front.
    ///
    /// The files are read at startup (a file that cannot be used is a configuration error naming its key) and again
    /// on `SIGHUP` or when they change on disk, so a renewed certificate takes effect for new connections without
    /// dropping open streams.
    public struct TLS: Sendable, Equatable {
        /// The PEM file with the certificate, then its intermediates. Relative to the configuration file's folder.
        public var certificateFile: String
        /// The PEM file with the certificate's private key. Relative to the configuration file's folder.
        public var keyFile: String
        /// How long a client may take to complete the TLS handshake before its connection is closed, so that
        /// half-open handshakes cannot hold connections. Default 10 seconds.
        public var handshakeTimeout: Duration = .seconds(10)
        /// How often the files are checked for a change (a renewal writing new files), or nil to reload only on
        /// `SIGHUP`. Default 30 seconds.
        public var reloadCheckInterval: Duration? = .seconds(30)
        /// Where the entry sits in the document, for error messages.
        public var path = "server.tls"

        public init(certificateFile: String, keyFile: String) {
            self.certificateFile = certificateFile
            self.keyFile = keyFile
        }
    }
}

extension GatewayConfiguration.Server.TLS {
    init(from node: ConfigNode) throws(ConfigError) {
        let object = try node.object()
        func file(_ key: String) throws(ConfigError) -> String {
            try object.require(key) { node throws(ConfigError) in
                let path = try node.string()
                guard !path.isEmpty else { throw node.error("must name a PEM file") }
                return path
            }
        }
        self.init(certificateFile: try file("certificateFile"), keyFile: try file("keyFile"))
        self.path = node.path
        let defaults = self
        handshakeTimeout = try object.decode("handshakeTimeout", default: defaults.handshakeTimeout) {
            node throws(ConfigError) in
            let timeout = try node.duration()
            guard timeout > .zero else { throw node.error("must be more than 0s") }
            return timeout
        }
        if let interval = object.node("reloadCheckInterval") {
            let value = try interval.duration()
            reloadCheckInterval = value == .zero ? nil : value
        }
        try object.finish()
    }
}
