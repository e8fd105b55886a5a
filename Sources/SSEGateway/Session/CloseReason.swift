/// Why a session ended: passed to every will-close listener, logged, and counted in `sse_sessions_closed_total`.
///
/// It is an open set rather than an enum so that middleware can name its own reasons (`CloseReason("quota")`)
/// without a change to the gateway; the built-in reasons are static members.
public struct CloseReason: Hashable, Sendable, CustomStringConvertible {
    /// Short machine-readable name, used as the metrics label and in logs.
    public let name: String

    /// Creates a reason; keep `name` short, lowercase and stable, because it becomes a metrics label.
    public init(_ name: String) {
        self.name = name
    }

    public var description: String { self.name }

    /// The client closed the connection (FIN or RST).
    public static let clientDisconnected = CloseReason("client_disconnected")
    /// Writing to the client failed.
    public static let writeFailed = CloseReason("write_failed")
    /// The gateway is shutting down.
    public static let serverShutdown = CloseReason("server_shutdown")
    /// The client read too slowly and its unsent bytes reached `streams.maxBufferedBytes`.
    public static let slowConsumer = CloseReason("slow_consumer")
    /// A timeout middleware ended the stream (idle or maximum lifetime).
    public static let timeout = CloseReason("timeout")
    /// The subscriber's credentials expired.
    public static let authExpired = CloseReason("auth_expired")
    /// The peer stopped acknowledging data and was presumed dead.
    public static let deadPeer = CloseReason("dead_peer")
    /// A `HEAD` request: the stream's head was sent and nothing more.
    public static let headRequest = CloseReason("head_request")
    /// The connect phase rejected or failed the stream before it opened.
    public static let rejected = CloseReason("rejected")
    /// A stream handler returned: its stream ended cleanly.
    public static let completed = CloseReason("completed")
    /// A stream handler threw; the error is logged.
    public static let handlerFailed = CloseReason("handler_failed")
}
