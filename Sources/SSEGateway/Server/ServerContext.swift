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
    /// The listener's TLS context, when `server.tls` is set.
    let tls: TLSCertificates?
    /// Open HTTP/2 connections, for shutdown's `GOAWAY`.
    let http2Connections = HTTP2ConnectionRegistry()
    let connections: ConnectionLimiter
    let admission: AdmissionPolicy
    let connectionConfiguration: HTTPConnectionStateMachine.Configuration
    /// One per event loop: answers to publishes are flushed after the loop's next poll, so that publishes keep
    /// their arrival order.
    let pollBarriers: [ObjectIdentifier: PollBarrier]
    let ready = Atomic<Bool>(false)
    /// Set once shutdown closes the listener: hub requests on open connections then get 503 with `Retry-After`.
    let closing = Atomic<Bool>(false)

    init(
        configuration: GatewayConfiguration,
        hub: Hub,
        metrics: GatewayMetrics,
        mounts: HubMounts,
        shutdownHandlers: ShutdownHandlerRegistry,
        tls: TLSCertificates?,
        eventLoops: [any EventLoop],
        logger: Logger
    ) {
        self.pollBarriers = Dictionary(
            uniqueKeysWithValues: eventLoops.map { (ObjectIdentifier($0), PollBarrier(eventLoop: $0)) })
        self.tls = tls
        self.configuration = configuration
        self.hub = hub
        self.metrics = metrics
        self.mounts = mounts
        self.shutdownHandlers = shutdownHandlers
        self.logger = logger
        let server = configuration.server
        let retryAfter = max(1, Int(server.retryAfter.components.seconds))
        self.connections = ConnectionLimiter(
            maxConnections: server.maxConnections, maxPerAddress: server.maxConnectionsPerAddress)
        self.admission = AdmissionPolicy(
            limits: .init(
                maxRequestLineBytes: server.maxRequestLineBytes,
                maxHeaderBytes: server.maxHeaderBytes,
                maxHeaderCount: server.maxHeaderCount,
                retryAfterSeconds: retryAfter
            )
        )
        self.connectionConfiguration = .init(
            requestHeaderTimeout: TimeAmount(server.requestHeaderTimeout),
            requestBodyTimeout: TimeAmount(server.requestBodyTimeout),
            keepAliveTimeout: TimeAmount(server.keepAliveTimeout),
            middlewareTimeout: TimeAmount(server.middlewareTimeout),
            maxBodyBytes: configuration.hub.maxBodyBytes,
            retryAfterSeconds: retryAfter
        )
        self.sessionEnvironment = SessionEnvironment(
            logger: logger,
            metrics: metrics,
            closeListenerTimeout: TimeAmount(configuration.streams.closeListenerTimeout)
        )
    }

    /// The poll barrier of `eventLoop`, one of the server's.
    func pollBarrier(for eventLoop: any EventLoop) -> PollBarrier? {
        self.pollBarriers[ObjectIdentifier(eventLoop)]
    }
}
