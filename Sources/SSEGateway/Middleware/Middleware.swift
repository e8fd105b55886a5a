public import NIOHTTP1

/// One step of the chain every hub request passes through, in the order `config.json` lists them (the first is the
/// outermost: it sees requests first).
///
/// Each hook has a default that does nothing, so a middleware implements only the phases it cares about:
/// - ``intercept(_:responseHeaders:)`` sees every request to a hub route first and may answer it (a CORS preflight)
///   or add headers to whatever answer it gets.
/// - ``connect(_:)`` runs once per stream before its head is sent; it may suspend, reject, set claims, attributes and
///   response headers, register will-close listeners and schedule timers on ``Session/eventLoop``.
/// - ``admitPublish(_:)`` sees the head of a publish whose client waits for `100 Continue`, so that a refusal that
///   needs no body (a missing or invalid token) spares the upload.
/// - ``publish(_:)`` runs once per publish, so the same chain authorises and validates what goes into the hub;
///   ``publishWithoutSuspending(_:)`` lets a middleware that can decide at once skip it (below).
/// - ``makeStreamFilter(for:)`` gives a stream its own synchronous filter of outgoing bytes (compression) or
///   observer of writes, on the stream's event loop.
///
/// The `async` phases start on the request's event loop and run there until they first suspend: a phase that
/// never waits costs no thread hop, and publishes stay in the order they arrived. Blocking work does not belong
/// in them.
///
/// A publish whose every middleware decides in ``publishWithoutSuspending(_:)`` runs no task at all. That matters to a
/// hub taking thousands of publishes a second; a middleware with no publish phase says so by returning `.finished`
/// there, and one that checks something it may have to wait for (a token not seen before) returns `.suspend` until
/// it knows.
///
/// A middleware keeps no per-session state outside the session: it releases what it holds through will-close
/// listeners and shutdown handlers only, which is what makes cleanup reliable however a stream ends.
public protocol Middleware: Sendable {
    /// Sees a request to a hub route before it is routed, on its event loop; returning a response answers it here.
    ///
    /// Headers added to `responseHeaders` go out with whatever response the request gets, including rejections by
    /// later middleware and the event stream's head.
    func intercept(_ request: RequestFacts, responseHeaders: inout HTTPHeaders) -> MiddlewareResponse?

    /// Runs once per stream, before its response head is sent. Throw ``HTTPRejection`` to refuse the stream; any
    /// other error refuses it with 500 and is logged.
    func connect(_ session: Session) async throws

    /// Runs on the head of a publish whose client sent `Expect: 100-continue`, before the body is asked for. Throw
    /// ``HTTPRejection`` to refuse what can be refused from the head alone; the body is then never sent. Other
    /// publishes skip it (their body is already on its way), and every publish still goes through ``publish(_:)``.
    func admitPublish(_ request: RequestFacts) async throws

    /// Runs once per publish, after the form has been validated and before the update enters the hub. Throw
    /// ``HTTPRejection`` to refuse it.
    func publish(_ publish: PublishContext) async throws

    /// The publish phase for a decision that needs no waiting: do the whole check and return `.finished` (or throw
    /// ``HTTPRejection``), and ``publish(_:)`` is not called; return `.suspend` to have it run instead. The default
    /// is `.suspend`, so a middleware that implements only ``publish(_:)`` keeps its check. Runs on the request's
    /// event loop, or, once an earlier middleware of the chain has suspended, in the task that runs the rest of the
    /// phase.
    func publishWithoutSuspending(_ publish: PublishContext) throws -> PhaseProgress

    /// Called on the stream's event loop once every connect phase has passed, before the first byte of the body.
    /// Return nil when this stream needs no filter: streams without filters write the shared event bytes as they are.
    /// The stream takes messages only once it is open: keep `stream` and send from a timer or a later loop turn.
    func makeStreamFilter(for stream: SessionStream) -> (any StreamFilter)?
}

extension Middleware {
    public func intercept(_ request: RequestFacts, responseHeaders: inout HTTPHeaders) -> MiddlewareResponse? {
        nil
    }

    public func connect(_ session: Session) async throws {}

    public func admitPublish(_ request: RequestFacts) async throws {}

    public func publish(_ publish: PublishContext) async throws {}

    public func publishWithoutSuspending(_ publish: PublishContext) throws -> PhaseProgress { .suspend }

    public func makeStreamFilter(for stream: SessionStream) -> (any StreamFilter)? { nil }
}
