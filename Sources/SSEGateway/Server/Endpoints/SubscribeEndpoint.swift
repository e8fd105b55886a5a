import NIOCore
import NIOHTTP1

/// Subscribing: a session for the stream, the chain's connect phase, then the stream itself.
///
/// The session exists from the start of the connect phase, so that middleware can attach listeners and claims to
/// it and shutdown can close it, and it is closed exactly once however the request ends: refused, abandoned, answered
/// as a `HEAD`, or streamed.
struct SubscribeEndpoint {
    let server: ServerContext

    /// The hub of the shared upstream feed a session streams from, set in its connect phase.
    enum FeedHub: SessionAttributeKey {
        typealias Value = Hub
    }

    /// How a subscribe request starts.
    enum Start {
        /// Refused before any session exists (no topic, selectors beyond `hub.subscribe`'s limits).
        case refused(HTTPResponse)
        /// The session is open and its connect phase runs; the future completes on the session's loop, with what the
        /// stream will replay.
        case connecting(Session, EventLoopFuture<ReplayPlan?>)
    }

    /// Parses the request's selectors, opens its session and starts `mount`'s connect phase.
    func start(
        _ head: HTTPRequestHead,
        request facts: RequestFacts,
        mount: HubMount,
        responseHeaders: HTTPHeaders,
        channel: any Channel
    ) -> Start {
        let selectors: [TopicSelector]
        if mount.shared != nil {
            // A shared upstream's feed publishes every event under one topic.
            selectors = [TopicSelector(SharedUpstream.topic)]
        } else if mount.handler != nil {
            // A stream handler's route: what the stream carries is the handler's business, not topics.
            selectors = []
        } else {
            let topics = facts.query.compactMap { $0.name == "topic" ? $0.value : nil }
            guard !topics.isEmpty else {
                return .refused(.text(.badRequest, "Missing \"topic\" parameter"))
            }
            switch SubscribeLimits(self.server.configuration.hub.subscribe).check(topics) {
            case .accepted(let parsed):
                selectors = parsed
            case .rejected(let reason):
                return .refused(.text(.badRequest, reason))
            }
        }
        let lastEventID =
            head.headers.first(name: "last-event-id") ?? facts.query.first(where: { $0.name == "lastEventID" })?.value
        let session = Session(
            id: EventID.generate(),
            request: facts,
            topics: selectors,
            lastEventID: lastEventID,
            eventLoop: channel.eventLoop,
            environment: self.server.sessionEnvironment,
            responseHeaders: responseHeaders
        )
        self.server.sessionEnvironment.didOpen(session)
        let shard = self.server.hub.shard(for: channel.eventLoop)
        shard.track(session)
        session.closeFuture.whenComplete { _ in shard.untrack(session) }
        if head.method != .HEAD {
            // Whatever closes a streaming session closes its connection; a HEAD session ends after its answer while
            // the connection stays open for the next request.
            session.setTeardown { _ in channel.close(promise: nil) }
        }
        let hub = self.server.hub
        let eventLoop = channel.eventLoop
        // The replay is worked out once the middleware has admitted the stream (a HEAD has none): from the hub's
        // memory at once, or from the store when the cursor is older.
        let isStreamRoute = mount.handler != nil
        let replay = { @Sendable () -> EventLoopFuture<ReplayPlan?> in
            guard head.method != .HEAD, !isStreamRoute else { return eventLoop.makeSucceededFuture(nil) }
            // A shared upstream's client replays from its feed's ring.
            let source = session[FeedHub.self] ?? hub
            return source.prepareReplay(
                from: session.lastEventID, abandoned: session.closeFuture.map { _ in () }, on: eventLoop)
        }
        guard !mount.middleware.isEmpty || mount.handler != nil || mount.shared != nil else {
            return .connecting(session, replay())
        }
        let middleware = mount.middleware
        let handler = head.method == .HEAD ? nil : mount.handler
        let shared = head.method == .HEAD ? nil : mount.shared
        let loops = hub.shards.map(\.eventLoop)
        let phase = eventLoop.makeFutureWithImmediateTask {
            for step in middleware {
                try await step.connect(session)
            }
            try await handler?.prepare(session)
            if let shared {
                session[FeedHub.self] = try await shared.join(session, loops: loops)
            }
        }
        return .connecting(session, phase.flatMap { replay() })
    }

    /// What the connection does with a finished connect phase: the outcome, the headers its answer carries, and
    /// the reason to close the session with once the answer is written (nil when the session goes on as a stream).
    func outcome(
        of result: Result<ReplayPlan?, any Error>,
        for session: Session
    ) -> (HTTPConnectionStateMachine.PhaseOutcome, headers: HTTPHeaders, closeAfterAnswer: CloseReason?) {
        switch result {
        case .success where session.request.method == .HEAD:
            let head = HTTPResponse(status: .ok, headers: StreamHead.headers, body: "", hasContentLength: false)
            return (.answer(head, keepAlive: true), session.responseHeaders, .headRequest)
        case .success:
            return (.openStream, session.responseHeaders, nil)
        case .failure(let error):
            let rejection = HTTPRejection.from(
                error, phase: "connect phase", logger: self.server.logger, session: session)
            // The refusal's body is plain text: a coding negotiated for the stream does not apply to it.
            var headers = session.responseHeaders
            headers.remove(name: "Content-Encoding")
            return (.answer(rejection.response, keepAlive: false), headers, .rejected)
        }
    }

    /// Hands the connection over to `session`'s stream: the codec and the connection handler (`connection`) leave
    /// the pipeline and an ``SSEStreamHandler`` writes the stream from here on.
    func open(
        _ session: Session,
        replay: ReplayPlan?,
        mount: HubMount,
        codec: any ConnectionCodec,
        connection: ChannelHandlerContext
    ) {
        let channel = connection.channel
        guard !session.isClosed, channel.isActive else {
            session.close(reason: .clientDisconnected)
            channel.close(promise: nil)
            return
        }
        let stream = self.makeStream(for: session, replay: replay, mount: mount, channel: channel)
        self.server.metrics.httpResponse(status: 200)
        do {
            try codec.switchToStream(stream, connection: connection)
        } catch {
            stream.unlink()
            session.close(reason: .writeFailed)
        }
    }

    private func makeStream(
        for session: Session,
        replay: ReplayPlan?,
        mount: HubMount,
        channel: any Channel
    ) -> SSEStreamHandler {
        let sessionStream = SessionStream(session: session, channel: channel)
        let filters = mount.middleware.compactMap { $0.makeStreamFilter(for: sessionStream) }
        // The filters have read the headers (a negotiated coding); the head takes them, and the session lets go.
        let head = StreamHead(
            framing: StreamFraming(version: session.request.version), extra: session.takeResponseHeaders())
        let stream = SSEStreamHandler(
            session: session,
            hub: session[FeedHub.self] ?? self.server.hub,
            head: head,
            maxBufferedBytes: max(1, self.server.configuration.streams.maxBufferedBytes / 2),
            replay: replay,
            source: mount.handler.map {
                StreamHandlerRun(
                    handler: $0, session: session, logger: self.server.logger, metrics: self.server.metrics)
            }
        )
        stream.link(sessionStream)
        stream.setFilters(filters)
        return stream
    }
}
