/// A source of one event stream per request, written in Swift: a log tail, a server-streaming RPC, a feed computed
/// for one client. A route mounts it with `{"path": …, "stream": name}`, behind the same middleware chain as the hub.
///
/// ``stream(_:to:)`` runs as a task of its own for each session. The task is cancelled the moment the session closes,
/// for whatever reason (the client sent FIN or RST, even on an idle stream; a timeout; shutdown), so the work behind
/// a departed client stops at once instead of at its next write.
public protocol StreamHandler: Sendable {
    /// Runs in the connect phase, after the chain's middleware and before the stream's head is sent: throw an
    /// ``HTTPRejection`` to answer with its status instead of a stream (a backend that is not there: `502`).
    func prepare(_ session: Session) async throws

    /// Streams to one client. Returning ends the stream cleanly (reason ``CloseReason/completed``); throwing ends it
    /// with ``CloseReason/handlerFailed``, logged with the error. ``StreamWriter/send(_:)`` waits while the client
    /// is not reading, and throws once the session has closed.
    func stream(_ session: Session, to writer: StreamWriter) async throws
}

extension StreamHandler {
    /// Nothing to check before the stream opens.
    public func prepare(_ session: Session) async throws {}
}

/// A stream handler that configuration names by `stream`, made from the route's own settings.
public protocol StreamHandlerPlugin: StreamHandler {
    /// The `stream` name routes use.
    static var name: String { get }

    /// Reads the route's settings (every key besides `path`, `stream`, `skip` and `middleware`); throws a
    /// ``ConfigError`` naming the JSON path of a bad one. Keys it does not read are rejected after it returns.
    init(settings: ConfigObject, context: MiddlewareContext) throws
}
