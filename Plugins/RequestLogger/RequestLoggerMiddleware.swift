import CoreMetrics
import Foundation
public import Logging
public import SSEGateway

/// Logs every stream when it opens and, from a will-close listener, how long it lasted and why it ended; records the
/// duration in the `sse_stream_duration_seconds` histogram on `/metrics`.
///
/// The smallest complete plugin, and the example of the README's "Writing a middleware": it reads its settings
/// strictly, keeps its per-stream state in the session, and cleans up only through a will-close listener.
///
/// ```json
/// {"use": "request-logger", "level": "info"}
/// ```
public struct RequestLoggerMiddleware: MiddlewarePlugin {
    public static let name = "request-logger"

    /// The level of the two lines per stream. Default `info`.
    public let level: Logger.Level
    private let logger: Logger
    private let durations: CoreMetrics.Timer

    public init(settings: ConfigObject, context: MiddlewareContext) throws(ConfigError) {
        self.level = try settings.decode("level", default: .info) { node throws(ConfigError) in
            let name = try node.string()
            guard let level = Logger.Level(rawValue: name) else {
                let choices = Logger.Level.allCases.map(\.rawValue).joined(separator: ", ")
                throw node.error("expected one of \(choices), got \"\(name)\"")
            }
            return level
        }
        self.logger = context.logger
        self.durations = CoreMetrics.Timer(
            label: "sse_stream_duration_seconds",
            preferredDisplayUnit: .seconds,
            factory: context.metrics
        )
    }

    /// No publish phase: a publish passes without a task.
    public func publishWithoutSuspending(_ publish: PublishContext) throws -> PhaseProgress { .finished }

    public func connect(_ session: Session) async throws {
        let opened = ContinuousClock.now
        let request = session.request
        self.logger.log(
            level: self.level,
            "stream opened",
            metadata: [
                "session": "\(session.id)",
                "topic": "\(session.topics.map(\.raw))",
                "remote": "\(request.remoteAddress.map { "\($0)" } ?? "-")",
                "user-agent": "\(request.headers.first(name: "user-agent") ?? "-")",
            ]
        )
        session.addWillCloseListener { [logger, level, durations] session, reason in
            let lasted = ContinuousClock.now - opened
            durations.recordNanoseconds(lasted.nanoseconds)
            logger.log(
                level: level,
                "stream closed",
                metadata: [
                    "session": "\(session.id)",
                    "reason": "\(reason)",
                    "duration": "\(lasted.formatted(.units(allowed: [.seconds, .milliseconds], width: .narrow)))",
                ]
            )
        }
    }
}

extension Duration {
    fileprivate var nanoseconds: Int64 {
        let (seconds, attoseconds) = self.components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }
}
