import Logging
public import SSEGateway

/// Makes the shutdown sequence observable from outside the process: registers shutdown handlers with chosen
/// behaviours and logs every will-close listener call. Used by the integration tests, which run the real binary;
/// inert unless a configuration names it.
///
/// ```json
/// {"use": "shutdown-probe", "handlers": [{"name": "flush", "behaviour": "finish"},
///                                        {"name": "broken", "behaviour": "throw"},
///                                        {"name": "stuck", "behaviour": "hang"}]}
/// ```
///
/// Handlers are registered in list order, so they run last first. Each logs `probe handler started` (and
/// `probe handler finished` when it returns); `hang` never returns and ignores cancellation. Every will-close
/// listener call logs `probe will-close` with the session and the reason.
public struct ShutdownProbeMiddleware: MiddlewarePlugin {
    public static let name = "shutdown-probe"

    /// What a probe handler does once started.
    public enum Behaviour: String, Sendable, CaseIterable {
        /// Returns at once.
        case finish
        /// Throws an error.
        case `throw`
        /// Never returns, even when cancelled.
        case hang
    }

    private let logger: Logger

    public init(settings: ConfigObject, context: MiddlewareContext) throws(ConfigError) {
        self.logger = context.logger
        let logger = context.logger
        _ = try settings.decode("handlers", default: ()) { node throws(ConfigError) in
            let entries = try node.array { element throws(ConfigError) in
                try element.object { (entry) throws(ConfigError) in
                    let name = try entry.require("name") { node throws(ConfigError) in try node.string() }
                    let behaviour = try entry.decode("behaviour", default: Behaviour.finish) {
                        node throws(ConfigError) in try node.oneOf(Behaviour.self)
                    }
                    return (node: element, name: name, behaviour: behaviour)
                }
            }
            for entry in entries {
                do {
                    try context.registerShutdownHandler(name: entry.name) {
                        try await Self.run(entry.behaviour, name: entry.name, logger: logger)
                    }
                } catch {
                    throw entry.node.error("\(error)")
                }
            }
        }
    }

    public func connect(_ session: Session) async throws {
        session.addWillCloseListener { [logger] session, reason in
            logger.info("probe will-close", metadata: ["session": "\(session.id)", "reason": "\(reason)"])
        }
    }

    struct ProbeFailure: Error, CustomStringConvertible {
        var name: String
        var description: String { "probe handler \(self.name) failed as configured" }
    }

    private static func run(_ behaviour: Behaviour, name: String, logger: Logger) async throws {
        logger.info("probe handler started", metadata: ["handler": "\(name)"])
        switch behaviour {
        case .finish:
            logger.info("probe handler finished", metadata: ["handler": "\(name)"])
        case .throw:
            throw ProbeFailure(name: name)
        case .hang:
            while true {
                try? await Task.sleep(for: .seconds(1))
            }
        }
    }
}
