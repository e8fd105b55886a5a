import CoreMetrics
import Logging
import NIOConcurrencyHelpers

/// One path where the hub (or a stream handler) is served, with the middleware chain its requests pass through
/// (outermost first).
struct HubMount: Sendable {
    let path: String
    let middleware: [any Middleware]
    /// The stream handler the path serves, or nil for the hub.
    var handler: (any StreamHandler)? = nil
    /// The shared upstream requests the path serves (an upstream route with `"share": true`).
    var shared: SharedUpstream? = nil
}

/// Every hub path of a server, built from the configuration and the registry.
struct HubMounts: Sendable {
    let mounts: [HubMount]
    let indexByPath: [String: Int]
    /// The mounts that serve a stream handler: they take `GET` and `HEAD` only.
    let streamMounts: Set<Int>
    let warnings: [String]

    /// Builds each configured chain. The global chain is made once and shared by the routes that use it;
    /// `extra` (middleware given in code) is appended, innermost, to every chain.
    static func build(
        configuration: GatewayConfiguration,
        registry: MiddlewareRegistry,
        streams: StreamHandlerRegistry = StreamHandlerRegistry(),
        extra: [any Middleware],
        logger: Logger,
        metrics: any MetricsFactory,
        shutdownHandlers: ShutdownHandlerRegistry
    ) throws(ConfigError) -> HubMounts {
        let warnings = NIOLockedValueBox<[String]>([])
        func makeChain(_ entries: [MiddlewareEntry]) throws(ConfigError) -> [(String, any Middleware)] {
            var chain: [(String, any Middleware)] = []
            for entry in entries {
                let context = MiddlewareContext(
                    name: entry.name,
                    logger: logger,
                    metrics: metrics,
                    shutdownHandlers: shutdownHandlers,
                    warnings: warnings
                )
                chain.append((entry.name, try registry.make(entry, context: context)))
            }
            return chain
        }
        let global = try makeChain(configuration.middleware)
        var routes = configuration.routes
        if !routes.contains(where: { $0.path == Route.hubPath }) {
            routes.insert(HubRoute(path: Route.hubPath), at: 0)
        }
        var mounts: [HubMount] = []
        let upstreamMetrics = UpstreamStreamHandler.Metrics(factory: metrics)
        var indexByPath: [String: Int] = [:]
        for route in routes {
            let chain: [(String, any Middleware)]
            if let entries = route.middleware {
                chain = try makeChain(entries)
            } else {
                chain = global.filter { !route.skip.contains($0.0) }
            }
            let context = MiddlewareContext(
                name: route.stream ?? route.path, logger: logger, metrics: metrics,
                shutdownHandlers: shutdownHandlers, warnings: warnings)
            var handler: (any StreamHandler)?
            var shared: SharedUpstream?
            if let upstream = route.upstream {
                let upstreamHandler = UpstreamStreamHandler(
                    settings: upstream, logger: logger, metrics: upstreamMetrics)
                if upstream.share {
                    shared = SharedUpstream(handler: upstreamHandler, logger: logger)
                } else {
                    handler = upstreamHandler
                }
            } else {
                handler = try streams.make(route, context: context)
            }
            indexByPath[route.path] = mounts.count
            mounts.append(
                HubMount(path: route.path, middleware: chain.map(\.1) + extra, handler: handler, shared: shared))
        }
        return HubMounts(
            mounts: mounts,
            indexByPath: indexByPath,
            streamMounts: Set(mounts.indices.filter { mounts[$0].handler != nil || mounts[$0].shared != nil }),
            warnings: configuration.warnings + warnings.withLockedValue { $0 }
        )
    }
}
