public import CoreMetrics
public import Logging
import NIOConcurrencyHelpers

/// What a middleware gets from the gateway when it is created: where to log and count, and where to register the
/// work that must happen when the gateway stops.
public final class MiddlewareContext: Sendable {
    /// The middleware's name in the chain (`name`, else `use`, of its entry).
    public let name: String
    /// A logger whose metadata names the middleware.
    public let logger: Logger
    /// The gateway's metrics factory: what a middleware records here appears on `/metrics`.
    public let metrics: any MetricsFactory

    let shutdownHandlers: ShutdownHandlerRegistry
    private let collectedWarnings: NIOLockedValueBox<[String]>

    init(
        name: String,
        logger: Logger,
        metrics: any MetricsFactory,
        shutdownHandlers: ShutdownHandlerRegistry,
        warnings: NIOLockedValueBox<[String]>
    ) {
        self.name = name
        var logger = logger
        logger[metadataKey: "middleware"] = "\(name)"
        self.logger = logger
        self.metrics = metrics
        self.shutdownHandlers = shutdownHandlers
        self.collectedWarnings = warnings
    }

    /// Registers work to run when the gateway stops, after every session has closed. Handlers run in reverse
    /// registration order, each under its own timeout.
    ///
    /// - Throws: ``ShutdownHandlerRegistry/DuplicateName`` when `name` is taken: names identify handlers in logs and
    ///   in the shutdown configuration.
    public func registerShutdownHandler(
        name: String,
        _ handler: @escaping @Sendable () async throws -> Void
    ) throws {
        try self.shutdownHandlers.register(name: name, handler)
    }

    /// Records advice about a risky but valid setting (a demo key, an open origin list): `check-config` prints it
    /// and `serve` logs it at startup.
    public func warn(_ message: String) {
        self.collectedWarnings.withLockedValue { $0.append(message) }
    }
}
