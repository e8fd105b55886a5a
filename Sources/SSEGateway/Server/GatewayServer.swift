import CoreMetrics
public import Logging
import NIOConcurrencyHelpers
public import NIOCore
import NIOHTTP1
import NIOPosix
import ServiceLifecycle
import Synchronization

/// The gateway: an HTTP/1.1 server on SwiftNIO with the Mercure hub at `/.well-known/mercure`.
///
/// Embed it to add middleware or listeners in code, or run it through the `sse-gateway` command. It is a
/// swift-service-lifecycle `Service`: `run()` serves until graceful shutdown is signalled, then runs the shutdown
/// sequence of `configuration.shutdown` (the same one ``shutdown()`` runs) before returning.
public final class GatewayServer: Sendable {
    /// The gateway's configuration, as loaded.
    public let configuration: GatewayConfiguration
    /// The hub; publish to it directly when embedding.
    public let hub: Hub

    let context: ServerContext
    let group: any EventLoopGroup
    let ownsGroup: Bool
    let serverChannel = NIOLockedValueBox<(any Channel)?>(nil)
    let sequenceTask = NIOLockedValueBox<Task<ShutdownExitCode, Never>?>(nil)
    let logger: Logger
    let exitCode = Atomic<Int32>(-1)
    /// What ``start()`` does with the store before it listens.
    enum StoreStart {
        /// Open the kind `hub.store` names, then fill the hub's memory from it.
        case open(any EventStorePlugin)
        /// Fill the hub's memory from the store given in code.
        case load(any EventStore)
        case started
    }

    let storeStart: NIOLockedValueBox<StoreStart>
    let committer: EventCommitter

    /// Advice about risky but valid settings (from the configuration and its middleware), logged at startup.
    public let warnings: [String]

    /// Creates a gateway and its middleware chains; nothing listens until ``start()`` or ``run()``.
    ///
    /// - Parameters:
    ///   - registry: the middleware that the configuration's `middleware` lists may name.
    ///   - stores: the kinds of store that `hub.store` may name.
    ///   - streams: the stream handlers that routes may name by `stream`.
    ///   - middleware: middleware given in code, appended (innermost) to every route's chain.
    ///   - eventLoopGroup: loops to serve on; by default the server makes `server.threads` of its own.
    ///   - eventStore: where events are committed and replayed from; by default the kind `hub.store` names, opened
    ///     by ``start()``.
    /// - Throws: ``ConfigError`` naming the JSON path of a middleware entry or a store setting that is not valid.
    public init(
        configuration: GatewayConfiguration,
        registry: MiddlewareRegistry = MiddlewareRegistry(),
        stores: EventStoreRegistry = EventStoreRegistry(),
        streams: StreamHandlerRegistry = StreamHandlerRegistry(),
        middleware: [any Middleware] = [],
        eventLoopGroup: (any EventLoopGroup)? = nil,
        eventStore: (any EventStore)? = nil,
        logger: Logger = Logger(label: "sse-gateway")
    ) throws(ConfigError) {
        self.configuration = configuration
        self.logger = logger
        let metrics = GatewayMetrics()
        if let eventStore {
            self.storeStart = NIOLockedValueBox(.load(eventStore))
        } else {
            let plugin = try stores.make(
                configuration.hub.store, context: Self.storeContext(configuration, logger: logger))
            self.storeStart = NIOLockedValueBox(.open(plugin))
        }
        let orderWait = configuration.hub.publishOrderWait
        let committer = EventCommitter(
            store: eventStore, logger: logger, orderWait: orderWait == .zero ? nil : TimeAmount(orderWait))
        self.committer = committer
        // The hub is made once the loops are known, after the handlers that close its store are registered.
        let hubBox = NIOLockedValueBox<Hub?>(nil)
        let shutdownHandlers = ShutdownHandlerRegistry(
            core: Self.coreShutdownHandlers(
                metrics: metrics, committer: committer, hub: { hubBox.withLockedValue { $0 } }, logger: logger))
        let mounts = try HubMounts.build(
            configuration: configuration,
            registry: registry,
            streams: streams,
            extra: middleware,
            logger: logger,
            metrics: metrics.factory,
            shutdownHandlers: shutdownHandlers
        )
        self.warnings = mounts.warnings
        let tls = try configuration.server.tls.map { settings throws(ConfigError) in
            try TLSCertificates(
                settings, baseDirectory: configuration.baseDirectory, protocols: Self.applicationProtocols,
                logger: logger)
        }
        if let eventLoopGroup {
            self.group = eventLoopGroup
            self.ownsGroup = false
        } else {
            let threads = configuration.server.threads == 0 ? System.coreCount : configuration.server.threads
            self.group = MultiThreadedEventLoopGroup(numberOfThreads: threads)
            self.ownsGroup = true
        }
        let loops = Array(self.group.makeIterator())
        self.hub = Hub(
            eventLoops: loops, configuration: configuration.hub, metrics: metrics, committer: committer,
            writeDelay: configuration.streams.writeDelay, logger: logger)
        hubBox.withLockedValue { [hub = self.hub] in $0 = hub }
        self.context = ServerContext(
            configuration: configuration,
            hub: self.hub,
            metrics: metrics,
            mounts: mounts,
            shutdownHandlers: shutdownHandlers,
            tls: tls,
            eventLoops: loops,
            logger: logger
        )
    }

    /// What the TLS listener offers by ALPN, most preferred first.
    static let applicationProtocols = ["h2", "http/1.1"]

    /// Builds the middleware chains of `configuration` without serving, as `check-config` does; returns the
    /// warnings the configuration and its middleware raise.
    public static func check(
        configuration: GatewayConfiguration,
        registry: MiddlewareRegistry,
        stores: EventStoreRegistry = EventStoreRegistry(),
        streams: StreamHandlerRegistry = StreamHandlerRegistry()
    ) throws(ConfigError) -> [String] {
        let quiet = Logger(label: "sse-gateway", factory: { _ in SwiftLogNoOpLogHandler() })
        if let tls = configuration.server.tls {
            _ = try TLSCredentials.load(
                tls, baseDirectory: configuration.baseDirectory, protocols: Self.applicationProtocols)
        }
        _ = try stores.make(configuration.hub.store, context: Self.storeContext(configuration, logger: quiet))
        let shutdownHandlers = ShutdownHandlerRegistry(
            core: Self.coreShutdownHandlers(
                metrics: GatewayMetrics(), committer: nil, logger: Logger(label: "sse-gateway")))
        let warnings = try HubMounts.build(
            configuration: configuration,
            registry: registry,
            streams: streams,
            extra: [],
            logger: quiet,
            metrics: NOOPMetricsHandler.instance,
            shutdownHandlers: shutdownHandlers
        ).warnings
        return warnings + configuration.shutdown.unknownHandlerWarnings(registered: shutdownHandlers.names)
    }

    static func storeContext(_ configuration: GatewayConfiguration, logger: Logger) -> EventStoreContext {
        var logger = logger
        logger[metadataKey: "store"] = "\(configuration.hub.store.type)"
        return EventStoreContext(
            history: configuration.hub.history, baseDirectory: configuration.baseDirectory, logger: logger)
    }

    /// Opens the store `hub.store` names (unless it is open) and fills the hub's memory from it. ``start()`` does
    /// this first; calling it before lets a command report a store that cannot be opened before anything runs.
    ///
    /// - Throws: ``ConfigError`` naming the `hub.store` setting at fault, with the system's reason.
    public func openStore() async throws {
        let store: any EventStore
        switch self.storeStart.withLockedValue({ $0 }) {
        case .started:
            return
        case .load(let given):
            store = given
        case .open(let plugin):
            store = try await plugin.open(on: self.group)
        }
        do {
            try await self.hub.load(from: store, on: self.group.next())
        } catch {
            try? await store.close()
            throw ConfigError(path: self.configuration.hub.store.path, message: "cannot read the store: \(error)")
        }
        self.committer.open(store)
        if store.isShared {
            self.hub.follow(store, on: self.group.next())
        }
        self.storeStart.withLockedValue { $0 = .started }
    }

    /// The core's own shutdown handlers, registered before any middleware's so that they run last.
    ///
    /// `metrics` writes the final value of every metric to the log: the listener that served `/metrics` closed at
    /// the start of the sequence, so no scrape sees the figures of the shutdown itself. `event-store` commits every
    /// publish accepted so far, then closes the store; it runs after the middleware's handlers, before `metrics`.
    static func coreShutdownHandlers(
        metrics: GatewayMetrics,
        committer: EventCommitter?,
        hub: @escaping @Sendable () -> Hub? = { nil },
        logger: Logger
    ) -> [(name: String, handler: ShutdownHandlerRegistry.Handler)] {
        [
            (
                "metrics",
                {
                    logger.info("final metrics", metadata: metrics.samples().mapValues { .string($0) })
                }
            ),
            (
                "event-store",
                {
                    await hub()?.stopFollowing()
                    try await committer?.close()
                }
            ),
        ]
    }

    /// Registers work to run when the gateway stops, after every session has closed; handlers run in reverse
    /// registration order, each under its own timeout.
    ///
    /// - Throws: ``ShutdownHandlerRegistry/DuplicateName`` when `name` is taken.
    public func registerShutdownHandler(name: String, _ handler: @escaping @Sendable () async throws -> Void) throws {
        try self.context.shutdownHandlers.register(name: name, handler)
    }

    /// The bound address once started (useful with port 0).
    public var localAddress: SocketAddress? {
        self.serverChannel.withLockedValue { $0?.localAddress }
    }

    /// Opens the event store (filling the hub's memory from it), then binds the listening socket and starts
    /// accepting connections.
    ///
    /// - Throws: ``ConfigError`` naming the `hub.store` setting at fault when the store cannot be opened.
    public func start() async throws {
        try await self.openStore()
        let server = self.context
        for barrier in server.pollBarriers.values {
            try await barrier.open().get()
        }
        let configuration = self.configuration
        let maxBuffered = configuration.streams.maxBufferedBytes
        let bootstrap = ServerBootstrap(group: self.group)
            .serverChannelOption(.backlog, value: Int32(configuration.server.backlog))
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            // NIO keeps each connection's read buffer for the connection's life: an idle stream holds it.
            .childChannelOption(
                .recvAllocator,
                value: AdaptiveRecvByteBufferAllocator(
                    minimum: 64, initial: configuration.server.readBufferBytes, maximum: 65536)
            )
            // A client's FIN is an event, not a close: a request it sent before is still answered.
            .childChannelOption(.allowRemoteHalfClosure, value: true)
            .childChannelOption(
                .writeBufferWaterMark,
                value: .init(low: max(1, maxBuffered / 4), high: max(2, maxBuffered / 2))
            )
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try ConnectionPipeline.configure(channel: channel, server: server)
                }
            }
        let channel = try await bootstrap.bind(host: configuration.server.host, port: configuration.server.port).get()
        self.serverChannel.withLockedValue { $0 = channel }
        server.tls?.watch(on: self.group.next())
        server.ready.store(true, ordering: .relaxed)
        self.logger.info(
            "listening",
            metadata: ["address": "\(channel.localAddress.map { "\($0)" } ?? "?")"]
        )
    }

    /// Runs the shutdown sequence of `configuration.shutdown`, as a signal does under `serve`: `/readyz` turns 503,
    /// the listener closes after the grace, open streams get the notice, clients drain, the rest close with reason
    /// ``CloseReason/serverShutdown`` (will-close listeners run), then the shutdown handlers run, all within the
    /// hard deadline; event loops the server made are shut down last.
    ///
    /// Later and concurrent calls wait for the same run. Cancelling the calling task cuts the sequence short, as a
    /// second signal does (``ShutdownExitCode/fastExit``).
    @discardableResult
    public func shutdown() async -> ShutdownExitCode {
        await self.shutdownOnce(trappingSignals: false)
    }

    /// Reads the TLS certificate and key files again; new connections use them, open ones keep theirs. `serve`
    /// calls this on `SIGHUP`; the files are also checked every `server.tls.reloadCheckInterval`.
    ///
    /// The outcome is logged; a failure names the file at fault and keeps the previous certificate in use.
    /// - Returns: whether the files were read and are now in use (false without `server.tls`).
    @discardableResult
    public func reloadTLSCertificates(trigger: String = "request") -> Bool {
        self.context.tls?.reloadLogging(trigger: trigger) ?? false
    }

    /// Number of connections currently open (streams and ordinary requests).
    public var openConnectionCount: Int {
        self.context.connections.openCount
    }

    /// Prometheus text exposition of the gateway's metrics, as `/metrics` serves it.
    public func renderMetrics() -> String {
        String(decoding: self.context.metrics.render(), as: UTF8.self)
    }
}

extension GatewayServer: Service {
    /// Serves until graceful shutdown (a signal of `shutdown.signals` through a `ServiceGroup`), then runs the
    /// shutdown sequence, during which a second such signal exits fast; its result is ``shutdownExitCode``.
    public func run() async throws {
        try await self.start()
        for warning in self.configuration.shutdown.unknownHandlerWarnings(
            registered: self.context.shutdownHandlers.names)
        {
            self.logger.warning("config: \(warning)")
        }
        // Returns when a graceful shutdown is triggered, or throws when the task is cancelled.
        do {
            try await gracefulShutdown()
        } catch {
            // Cancelled rather than asked to stop: the sequence, called from a cancelled task, exits fast.
            _ = await self.shutdownOnce(trappingSignals: false)
            return
        }
        self.logger.info("graceful shutdown started")
        _ = await self.shutdownOnce(trappingSignals: true)
    }

    /// How the shutdown sequence ended, once ``run()`` or ``shutdown()`` has returned.
    public var shutdownExitCode: ShutdownExitCode? {
        ShutdownExitCode(rawValue: self.exitCode.load(ordering: .relaxed))
    }
}
