import Logging
public import SSEGateway
import Synchronization

/// Makes the shutdown sequence observable from outside the process: registers shutdown handlers with chosen
/// behaviours and logs every will-close listener call. Used by the integration tests, which run the real binary with
/// `--enable-test-plugins`: it is not among the built-in middleware, so a deployment cannot name it by mistake.
///
/// ```json
/// {"use": "shutdown-probe", "handlers": [{"name": "flush", "behaviour": "finish"},
///                                        {"name": "broken", "behaviour": "throw"},
///                                        {"name": "stuck", "behaviour": "hang"}]}
/// ```
///
/// Handlers are registered in list order, so they run last first. Each logs `probe handler started` with the tally
/// of will-close calls so far by reason (`closes=server_shutdown:20`), and `probe handler finished` when it returns;
/// `hang` never returns and ignores cancellation. Every will-close listener call logs `probe will-close` with the
/// session and the reason, unless `"logEachClose": false` (for thousands of streams, where the tally is enough).
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
    private let logEachClose: Bool
    private let tally: Tally

    public init(settings: ConfigObject, context: MiddlewareContext) throws(ConfigError) {
        self.logger = context.logger
        let logger = context.logger
        let tally = Tally()
        self.tally = tally
        self.logEachClose = try settings.decode("logEachClose", default: true) { node throws(ConfigError) in
            try node.bool()
        }
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
                        try await Self.run(entry.behaviour, name: entry.name, logger: logger, tally: tally)
                    }
                } catch {
                    throw entry.node.error("\(error)")
                }
            }
        }
    }

    /// No publish phase: a publish passes without a task.
    public func publishWithoutSuspending(_ publish: PublishContext) throws -> PhaseProgress { .finished }

    public func connect(_ session: Session) async throws {
        session.addWillCloseListener { [logger, logEachClose, tally] session, reason in
            tally.count(reason)
            if logEachClose {
                logger.info("probe will-close", metadata: ["session": "\(session.id)", "reason": "\(reason)"])
            }
        }
    }

    /// Will-close calls by reason.
    final class Tally: Sendable {
        private let counts = Mutex<[String: Int]>([:])

        func count(_ reason: CloseReason) {
            self.counts.withLock { $0["\(reason)", default: 0] += 1 }
        }

        /// `reason:count` pairs, sorted, comma-separated.
        var summary: String {
            self.counts.withLock {
                $0.sorted { $0.key < $1.key }.map { "\($0.key):\($0.value)" }.joined(separator: ",")
            }
        }
    }

    struct ProbeFailure: Error, CustomStringConvertible {
        var name: String
        var description: String { "probe handler \(self.name) failed as configured" }
    }

    private static func run(_ behaviour: Behaviour, name: String, logger: Logger, tally: Tally) async throws {
        logger.info("probe handler started", metadata: ["handler": "\(name)", "closes": "\(tally.summary)"])
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
