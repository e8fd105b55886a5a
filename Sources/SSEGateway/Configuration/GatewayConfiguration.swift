import Foundation

/// Everything an operator can tune about the gateway, read from a JSON file.
///
/// Reading is strict: an unknown key anywhere, a value of the wrong type or out of range, or a malformed duration is
/// an error naming its JSON path, so that a typo cannot silently leave a default in force. Every setting has a default,
/// so `{}` is a complete configuration.
public struct GatewayConfiguration: Sendable, Equatable {
    /// How the listener accepts and polices connections.
    public var server = Server()
    /// Who may publish, and how much history is kept for reconnecting clients.
    public var hub = Hub()
    /// How each subscriber's event stream is paced and torn down.
    public var streams = Streams()
    /// What the gateway writes to its log.
    public var logging = Logging()
    /// How the gateway stops: signals, budgets and the notice sent to open streams.
    public var shutdown = Shutdown()
    /// The middleware chain every hub route uses, outermost first. Default: none.
    public var middleware: [MiddlewareEntry] = []
    /// Paths where the hub is served and how their chains differ from ``middleware``. The hub is always at
    /// `/.well-known/mercure`; default: no other routes.
    public var routes: [HubRoute] = []
    /// Advice about risky but valid settings, for printing at startup.
    public var warnings: [String] = []
    /// The folder relative paths in the configuration (a store's file) are resolved against: the configuration
    /// file's folder when loaded from a file, else the working directory.
    public var baseDirectory = FileManager.default.currentDirectoryPath

    /// The configuration with every setting at its default.
    public init() {}

    public struct Server: Sendable, Equatable {
        /// The address to listen on. Default `"0.0.0.0"`, every IPv4 interface.
        public var host = "0.0.0.0"
        /// The TCP port, or 0 to let the system pick a free one (useful in tests). Default 8080.
        public var port = 8080
        /// Event-loop threads, or 0 for one per CPU core. Default 0.
        public var threads = 0
        /// Connections served at once; beyond it, new requests get 503 with `Retry-After`, which keeps memory bounded
        /// under a connection flood. Default 10000.
        public var maxConnections = 10_000
        /// How long clients turned away with 503 are told to wait. Default 5 seconds.
        public var retryAfter: Duration = .seconds(5)
        /// Connections from one peer address served at once; beyond it, new requests get 429 with `Retry-After`, so
        /// one client cannot take every connection. 0 turns the limit off, which is the default: behind a load
        /// balancer or a NAT every client shares an address. Default 0.
        public var maxConnectionsPerAddress = 0
        /// The longest request target (path and query) accepted; longer ones get 414. Default 8192 bytes.
        public var maxRequestLineBytes = 8192
        /// The largest header section accepted (names, values and their separators, without the request line);
        /// larger ones get 431. Default 8192 bytes.
        public var maxHeaderBytes = 8192
        /// The most header fields one request may carry; more get 431. Default 100.
        public var maxHeaderCount = 100
        /// How long a client may take to send a complete request head before getting 408, which stops slow-header
        /// attacks from holding connections. Default 10 seconds.
        public var requestHeaderTimeout: Duration = .seconds(10)
        /// How long a client may take to send a request body once its head is in; a body still incomplete gets 408
        /// and the connection closes, so a trickled body cannot hold a connection and its buffer. Default 10 seconds.
        public var requestBodyTimeout: Duration = .seconds(10)
        /// How long a request's middleware phase (a publish's or a stream's connect phase: token checks, lookups)
        /// may run; a request still undecided gets 503 with `Retry-After` and is never acted on. Default 10 seconds.
        public var middlewareTimeout: Duration = .seconds(10)
        /// How long an idle keep-alive connection is kept open. Default 60 seconds.
        public var keepAliveTimeout: Duration = .seconds(60)
        /// The listen backlog: connections the kernel queues before they are accepted. Default 1024.
        public var backlog = 1024
        /// The size of a connection's first read buffer (64–65536). NIO keeps a connection's read buffer for its
        /// life, so every idle stream holds one of this size; a larger request takes more reads, and a stream keeps
        /// only the first buffer. Default 512 bytes: 10,000 idle streams hold 5 MB rather than 20 MB at NIO's 2 KiB.
        public var readBufferBytes = 512
        /// HTTPS on the listener, or nil for plain HTTP. Default nil.
        public var tls: TLS?
        /// HTTP/2 over TLS and, optionally, in cleartext.
        public var http2 = HTTP2()

        public init() {}
    }

    public struct Hub: Sendable, Equatable {
        /// The largest publish body accepted; larger ones get 413. Default 1 MiB.
        public var maxBodyBytes = 1_048_576
        /// Peers allowed to publish. Default loopback only: `127.0.0.0/8` and `::1/128`.
        public var publishAllowedFrom: [IPAddressRange] = [
            IPAddressRange.loopbackV4,
            IPAddressRange.loopbackV6,
        ]
        /// What is kept for `Last-Event-ID` replay.
        public var history = History()
        /// What one subscribe request may ask the hub to match.
        public var subscribe = Subscribe()
        /// Where events are committed and replayed from: `{"type": …, settings}`, read by the kind of store that
        /// `type` names. Default `{"type": "memory"}`.
        public var store = Store.memory
        /// Publishes are committed in the order their requests arrived, although their publish phases (a token
        /// check) may end in another order; this is how long one waits for an earlier one still in its phase. An
        /// earlier publish slower than this is committed when it is ready, after the later ones. Zero commits each
        /// as soon as its phase ends. Default 100 ms.
        public var publishOrderWait: Duration = .milliseconds(100)

        public init() {}

        public struct History: Sendable, Equatable {
            /// Events retained for replay to reconnecting clients; 0 disables replay. Default 1000.
            public var size = 1000
            /// What a client whose `Last-Event-ID` is no longer (or never was) retained gets: the whole retained
            /// history when true, so it misses as little as possible, or nothing when false. Default true.
            public var replayUnknownID = true
            /// Bytes the retained events may take at most; the oldest are dropped first, so a run of large events
            /// cannot make history grow to `size` × `hub.maxBodyBytes`. Default 64 MiB.
            public var maxBytes = 64 * 1_048_576
            /// How long an event is retained at most, or nil for no age limit. A store that keeps events on disk
            /// deletes older ones in the background. Default nil.
            public var maxAge: Duration?
            /// The newest events the hub keeps in memory, encoded and ready to replay (at most `size`); a cursor
            /// older than them is read from the store. Default 1000.
            public var cacheSize = 1000

            public init() {}
        }

        /// Bounds on the selectors of one subscribe request; beyond any of them the request gets 400 with the reason.
        ///
        /// Every template selector of a stream is matched against every topic of every update, on the stream's
        /// event loop, in time linear in the topic: measured in a release build, about 10 ns per topic byte for a
        /// template of runs and one-byte literals, plus about 10 ns per byte for each longer literal between two
        /// expressions, when the topic keeps it in play. Exact selectors cost nothing to match (they are looked up
        /// by topic). The defaults hold the most expensive subscriber they admit, 32 templates of 4 expressions
        /// joined by two-byte literals that recur all along a 2 KiB topic, to about 1.5 ms of its loop per update
        /// (12 to 20 ms in a debug build); 100 templates of 4 expressions cost about 4.5 ms, and 100 of 32 about
        /// 32 ms.
        /// `hub.store`: the kind of ``EventStore`` to open (an ``EventStorePlugin``'s `type`) and its settings,
        /// which the kind reads and validates.
        public struct Store: Sendable, Equatable {
            /// The kind's registered type.
            public var type: String
            /// Every key of `hub.store`, for the kind to read.
            public var settings: [String: JSONValue]
            /// Where the entry sits in the document, for error messages.
            public var path: String

            public init(type: String, settings: [String: JSONValue] = [:], path: String = "hub.store") {
                self.type = type
                self.settings = settings.isEmpty ? ["type": .string(type)] : settings
                self.path = path
            }

            /// The newest `hub.history` events in the process's memory, gone with it.
            public static let memory = Store(type: "memory")
        }

        public struct Subscribe: Sendable, Equatable {
            /// `topic` parameters in one subscribe request (Mercure allows 1000). Exact topics are found through an
            /// index, so they cost no matching; what each stream holds grows with them. Default 100.
            public var maxSelectors = 100
            /// Template selectors (and `*`) among them: each is matched against every topic of every update on the
            /// stream's event loop, so they, not exact topics, are what a subscriber can make expensive for its
            /// neighbours. Measured in release on 2 KiB topics: 32 templates at the other limits cost ≈ 1.5 ms per
            /// update, 100 × 4 ≈ 4.6 ms, 100 × 32 ≈ 32 ms. Default 32.
            public var maxTemplateSelectors = 32
            /// Bytes of one selector, exact or template: long enough for any real topic IRI; matching time hardly
            /// depends on it (literals are scanned, names compared), but what each stream holds does. Default 2048.
            public var maxSelectorBytes = 2048
            /// Expressions in one template, each variable counting as one (`{a,b}` counts two): every variable is
            /// matched on its own, and each literal between two expressions is scanned. Default 4.
            public var maxTemplateExpressions = 4

            public init() {}
        }
    }

    public struct Streams: Sendable, Equatable {
        /// Bytes a stream may have waiting to be sent before it is closed as a slow consumer, so one stalled client
        /// cannot make the gateway buffer without bound. Default 1 MiB.
        public var maxBufferedBytes = 1_048_576
        /// How long each will-close listener may run before it is cut off, so shutdown cannot hang. Default 5 seconds.
        public var closeListenerTimeout: Duration = .seconds(5)
        /// Hub events are written to the streams of each event loop at most once per this delay, so a stream that
        /// gets several events within it takes them in one write of a buffer shared with the streams that got the
        /// same ones: less CPU per delivery under load, for up to this much latency. Zero writes each event (or
        /// batch) at once. Default 0.
        public var writeDelay: Duration = .zero

        public init() {}
    }

    public struct Logging: Sendable, Equatable {
        /// The least severe level that is logged. Default ``LogLevel/info``.
        public var level = LogLevel.info

        public init() {}
    }

    /// Log severities, from most to least verbose, named as in the configuration file.
    public enum LogLevel: String, Sendable, CaseIterable {
        case trace
        case debug
        case info
        case notice
        case warning
        case error
        case critical
    }
}

extension GatewayConfiguration {
    /// Reads a configuration from a parsed document, rejecting unknown keys at every level.
    public init(from root: ConfigNode) throws(ConfigError) {
        self.init()
        let defaults = self
        try root.object { (object) throws(ConfigError) in
            server = try object.decode("server", default: defaults.server) { node throws(ConfigError) in
                try Server(from: node)
            }
            hub = try object.decode("hub", default: defaults.hub) { node throws(ConfigError) in try Hub(from: node) }
            streams = try object.decode("streams", default: defaults.streams) { node throws(ConfigError) in
                try Streams(from: node)
            }
            logging = try object.decode("logging", default: defaults.logging) { node throws(ConfigError) in
                try Logging(from: node)
            }
            shutdown = try object.decode("shutdown", default: defaults.shutdown) { node throws(ConfigError) in
                try Shutdown(from: node)
            }
            middleware = try object.decode("middleware", default: defaults.middleware) { node throws(ConfigError) in
                try MiddlewareEntry.chain(from: node)
            }
            let global = middleware
            routes = try object.decode("routes", default: defaults.routes) { node throws(ConfigError) in
                var seen: Set<String> = []
                return try node.array { element throws(ConfigError) in
                    let route = try HubRoute(from: element, globalChain: global)
                    guard seen.insert(route.path).inserted else {
                        throw ConfigError(
                            path: ConfigNode.childPath(element.path, key: "path"),
                            message: "\(route.path) is already routed above"
                        )
                    }
                    return route
                }
            }
        }
        if server.tls != nil, shutdown.signals.contains(.sighup) {
            throw ConfigError(
                path: "shutdown.signals",
                message: "SIGHUP reloads the certificate of server.tls, so it cannot also stop the gateway")
        }
        warnings = makeWarnings()
    }

    /// Parses and reads a configuration held in a string.
    public init(jsonString: String) throws(ConfigError) {
        try self.init(from: ConfigNode(path: "", value: JSONValue.parse(jsonString)))
    }

    /// Reads the configuration file at `path`.
    public static func load(path: String) throws(ConfigError) -> GatewayConfiguration {
        func failure(_ reason: String) -> ConfigError {
            ConfigError(path: "", message: "cannot read config file \(path): \(reason)")
        }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw failure("no such file")
        }
        guard !isDirectory.boolValue else {
            throw failure("it is a directory")
        }
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw failure(error.localizedDescription)
        }
        var configuration = try GatewayConfiguration(from: ConfigNode(path: "", value: JSONValue.parse(data)))
        configuration.baseDirectory = URL(fileURLWithPath: path).deletingLastPathComponent().standardizedFileURL.path
        return configuration
    }

    private func makeWarnings() -> [String] {
        var warnings: [String] = []
        let listensEverywhere = server.host == "0.0.0.0" || server.host == "::"
        if listensEverywhere, let open = hub.publishAllowedFrom.first(where: { $0.prefixLength == 0 }) {
            warnings.append(
                "hub.publishAllowedFrom contains \(open): publishing is open to every address that can reach "
                    + "\(server.host):\(server.port)"
            )
        }
        warnings.append(contentsOf: shutdown.budgetWarnings())
        return warnings
    }
}

extension GatewayConfiguration.Server {
    init(from node: ConfigNode) throws(ConfigError) {
        self.init()
        let defaults = self
        try node.object { (object) throws(ConfigError) in
            host = try object.decode("host", default: defaults.host) { node throws(ConfigError) in
                let host = try node.string()
                guard !host.isEmpty else { throw node.error("must not be empty") }
                return host
            }
            port = try object.decode("port", default: defaults.port) { node throws(ConfigError) in
                try node.int(in: 0...65535)
            }
            threads = try object.decode("threads", default: defaults.threads) { node throws(ConfigError) in
                try node.int(in: 0...256)
            }
            maxConnections = try object.decode("maxConnections", default: defaults.maxConnections) {
                node throws(ConfigError) in try node.int(in: 1...1_000_000)
            }
            retryAfter = try object.decode("retryAfter", default: defaults.retryAfter) { node throws(ConfigError) in
                try node.duration()
            }
            maxConnectionsPerAddress = try object.decode(
                "maxConnectionsPerAddress", default: defaults.maxConnectionsPerAddress
            ) { node throws(ConfigError) in try node.int(in: 0...1_000_000) }
            maxRequestLineBytes = try object.decode("maxRequestLineBytes", default: defaults.maxRequestLineBytes) {
                node throws(ConfigError) in try node.byteSize(in: 256...1_048_576)
            }
            maxHeaderBytes = try object.decode("maxHeaderBytes", default: defaults.maxHeaderBytes) {
                node throws(ConfigError) in try node.byteSize(in: 1024...1_048_576)
            }
            maxHeaderCount = try object.decode("maxHeaderCount", default: defaults.maxHeaderCount) {
                node throws(ConfigError) in try node.int(in: 8...10_000)
            }
            requestHeaderTimeout = try object.decode("requestHeaderTimeout", default: defaults.requestHeaderTimeout) {
                node throws(ConfigError) in try node.duration()
            }
            requestBodyTimeout = try object.decode("requestBodyTimeout", default: defaults.requestBodyTimeout) {
                node throws(ConfigError) in try node.duration()
            }
            middlewareTimeout = try object.decode("middlewareTimeout", default: defaults.middlewareTimeout) {
                node throws(ConfigError) in try node.duration()
            }
            keepAliveTimeout = try object.decode("keepAliveTimeout", default: defaults.keepAliveTimeout) {
                node throws(ConfigError) in try node.duration()
            }
            backlog = try object.decode("backlog", default: defaults.backlog) { node throws(ConfigError) in
                try node.int(in: 1...65535)
            }
            readBufferBytes = try object.decode("readBufferBytes", default: defaults.readBufferBytes) {
                node throws(ConfigError) in
                try node.int(in: 64...65536)
            }
            tls = try object.decodeIfPresent("tls") { node throws(ConfigError) in try TLS(from: node) }
            http2 = try object.decode("http2", default: defaults.http2) { node throws(ConfigError) in
                try HTTP2(from: node)
            }
        }
    }
}

extension GatewayConfiguration.Hub {
    init(from node: ConfigNode) throws(ConfigError) {
        self.init()
        let defaults = self
        try node.object { (object) throws(ConfigError) in
            maxBodyBytes = try object.decode("maxBodyBytes", default: defaults.maxBodyBytes) {
                node throws(ConfigError) in try node.byteSize()
            }
            publishAllowedFrom = try object.decode("publishAllowedFrom", default: defaults.publishAllowedFrom) {
                node throws(ConfigError) in
                try node.array { element throws(ConfigError) in try element.ipAddressRange() }
            }
            history = try object.decode("history", default: defaults.history) { node throws(ConfigError) in
                try History(from: node)
            }
            subscribe = try object.decode("subscribe", default: defaults.subscribe) { node throws(ConfigError) in
                try Subscribe(from: node)
            }
            store = try object.decode("store", default: defaults.store) { node throws(ConfigError) in
                try Store(from: node)
            }
            publishOrderWait = try object.decode("publishOrderWait", default: defaults.publishOrderWait) {
                node throws(ConfigError) in
                let wait = try node.duration()
                guard wait <= .seconds(10) else { throw node.error("must be at most 10s") }
                return wait
            }
        }
    }
}

extension GatewayConfiguration.Hub.Store {
    init(from node: ConfigNode) throws(ConfigError) {
        let object = try node.object()
        let type = try object.require("type") { node throws(ConfigError) in
            let type = try node.string()
            guard !type.isEmpty else { throw node.error("must not be empty") }
            return type
        }
        self.init(type: type, settings: object.members, path: node.path)
    }
}

extension GatewayConfiguration.Hub.Subscribe {
    init(from node: ConfigNode) throws(ConfigError) {
        self.init()
        let defaults = self
        try node.object { (object) throws(ConfigError) in
            maxSelectors = try object.decode("maxSelectors", default: defaults.maxSelectors) {
                node throws(ConfigError) in try node.int(in: 1...PublishRequest.maxTopics)
            }
            maxTemplateSelectors = try object.decode(
                "maxTemplateSelectors", default: defaults.maxTemplateSelectors
            ) { node throws(ConfigError) in try node.int(in: 0...PublishRequest.maxTopics) }
            maxSelectorBytes = try object.decode("maxSelectorBytes", default: defaults.maxSelectorBytes) {
                node throws(ConfigError) in try node.byteSize(in: 1...1_048_576)
            }
            maxTemplateExpressions = try object.decode(
                "maxTemplateExpressions", default: defaults.maxTemplateExpressions
            ) { node throws(ConfigError) in try node.int(in: 0...10_000) }
        }
    }
}

extension GatewayConfiguration.Hub.History {
    init(from node: ConfigNode) throws(ConfigError) {
        self.init()
        let defaults = self
        try node.object { (object) throws(ConfigError) in
            size = try object.decode("size", default: defaults.size) { node throws(ConfigError) in
                try node.int(in: 0...10_000_000)
            }
            replayUnknownID = try object.decode("replayUnknownID", default: defaults.replayUnknownID) {
                node throws(ConfigError) in try node.bool()
            }
            maxBytes = try object.decode("maxBytes", default: defaults.maxBytes) { node throws(ConfigError) in
                try node.byteSize(in: 1024...Int.max)
            }
            maxAge = try object.decodeIfPresent("maxAge") { node throws(ConfigError) in
                let age = try node.duration()
                guard age >= .seconds(1) else { throw node.error("must be at least 1s") }
                return age
            }
            cacheSize = try object.decode("cacheSize", default: defaults.cacheSize) { node throws(ConfigError) in
                try node.int(in: 0...10_000_000)
            }
        }
    }
}

extension GatewayConfiguration.Streams {
    init(from node: ConfigNode) throws(ConfigError) {
        self.init()
        let defaults = self
        try node.object { (object) throws(ConfigError) in
            maxBufferedBytes = try object.decode("maxBufferedBytes", default: defaults.maxBufferedBytes) {
                node throws(ConfigError) in try node.byteSize(in: 1024...Int.max)
            }
            closeListenerTimeout = try object.decode("closeListenerTimeout", default: defaults.closeListenerTimeout) {
                node throws(ConfigError) in try node.duration()
            }
            writeDelay = try object.decode("writeDelay", default: defaults.writeDelay) { node throws(ConfigError) in
                let delay = try node.duration()
                guard delay <= .seconds(1) else { throw node.error("must be at most 1s") }
                return delay
            }
        }
    }
}

extension GatewayConfiguration.Logging {
    init(from node: ConfigNode) throws(ConfigError) {
        self.init()
        let defaults = self
        try node.object { (object) throws(ConfigError) in
            level = try object.decode("level", default: defaults.level) { node throws(ConfigError) in
                try node.oneOf(GatewayConfiguration.LogLevel.self)
            }
        }
    }
}
