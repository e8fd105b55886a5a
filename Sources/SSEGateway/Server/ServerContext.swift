import Logging
import NIOConcurrencyHelpers
import NIOCore
import Synchronization

/// Everything the connection handlers of one server share.
final class ServerContext: Sendable {
    let configuration: GatewayConfiguration
    let hub: Hub
    let metrics: GatewayMetrics
    let sessionEnvironment: SessionEnvironment
    let mounts: HubMounts
    let shutdownHandlers: ShutdownHandlerRegistry
    let logger: Logger
    let openConnections = Atomic<Int>(0)
    let ready = Atomic<Bool>(false)
    /// Set once shutdown closes the listener: hub requests on open connections then get 503 with `Retry-After`.
    let closing = Atomic<Bool>(false)

    init(
        configuration: GatewayConfiguration,
        hub: Hub,
        metrics: GatewayMetrics,
        mounts: HubMounts,
        shutdownHandlers: ShutdownHandlerRegistry,
        logger: Logger
    ) {
        self.configuration = configuration
        self.hub = hub
        self.metrics = metrics
        self.mounts = mounts
        self.shutdownHandlers = shutdownHandlers
        self.logger = logger
        self.sessionEnvironment = SessionEnvironment(
            logger: logger,
            metrics: metrics,
            closeListenerTimeout: TimeAmount(configuration.streams.closeListenerTimeout)
        )
    }
}

extension TimeAmount {
    init(_ duration: Duration) {
        let (seconds, attoseconds) = duration.components
        self = .nanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }
}
