import Logging
import NIOCore
import NIOHTTP1

/// Serves one HTTP/1.1 connection: publishes, health and metrics answers, and the start of event streams.
///
/// Limits and keep-alive live in ``HTTPRequestStateMachine``; this handler performs its actions. A subscribe that
/// passes the connect phase replaces the HTTP codec (and this handler) with an ``SSEStreamHandler``.
final class HTTPServerHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let server: ServerContext
    private let overCapacity: Bool
    private let encoder: HTTPResponseEncoder
    private let decoder: ByteToMessageHandler<HTTPRequestDecoder>
    private var machine: HTTPRequestStateMachine
    private var timer: Scheduled<Void>?
    private var connectingSession: Session?
    /// Headers that middleware added for the current request; every answer to it carries them.
    private var responseHeaders = HTTPHeaders()

    init(
        server: ServerContext,
        overCapacity: Bool,
        encoder: HTTPResponseEncoder,
        decoder: ByteToMessageHandler<HTTPRequestDecoder>
    ) {
        self.server = server
        self.overCapacity = overCapacity
        self.encoder = encoder
        self.decoder = decoder
        self.machine = HTTPRequestStateMachine(limits: .init(maxBodyBytes: server.configuration.hub.maxBodyBytes))
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive {
            self.armTimer(context: context, after: self.server.configuration.server.requestHeaderTimeout)
        }
    }

    func channelActive(context: ChannelHandlerContext) {
        self.armTimer(context: context, after: self.server.configuration.server.requestHeaderTimeout)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.timer?.cancel()
        self.timer = nil
        self.connectingSession?.close(reason: .clientDisconnected)
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.timer?.cancel()
        self.timer = nil
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        self.perform(self.machine.decodingFailed(error), context: context)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch self.unwrapInboundIn(data) {
        case .head(let head):
            self.timer?.cancel()
            self.timer = nil
            let path = head.uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
            let route = Route(method: head.method, path: String(path), mounts: self.server.mounts.indexByPath)
            self.responseHeaders = HTTPHeaders()
            var rejection = self.intercepted(head, route: route, context: context)
            if rejection == nil {
                rejection = self.rejection(for: head, route: route, context: context)
            }
            let expectsContinue = head.headers.first(name: "expect")?.lowercased() == "100-continue"
            if expectsContinue, rejection == nil, route.readsBody {
                // Clients such as curl wait up to a second for this before sending a larger body.
                context.writeAndFlush(
                    self.wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: .continue))),
                    promise: nil
                )
            }
            self.perform(
                self.machine.receivedHead(head, route: route, rejection: rejection, expectsContinue: expectsContinue),
                context: context
            )
        case .body(let chunk):
            self.perform(self.machine.receivedBody(chunk), context: context)
        case .end:
            self.perform(self.machine.receivedEnd(), context: context)
        }
    }

    // MARK: Actions

    private func perform(_ action: HTTPRequestStateMachine.Action, context: ChannelHandlerContext) {
        switch action {
        case .none:
            break
        case .respond(let response, let close):
            self.write(response, close: close, context: context)
        case .handle(let head, let route, let body):
            self.handle(head, route: route, body: body, context: context)
        case .close:
            context.close(promise: nil)
        }
    }

    /// Lets the route's middleware see the request first; an answer from one of them is sent instead of routing.
    private func intercepted(
        _ head: HTTPRequestHead,
        route: Route,
        context: ChannelHandlerContext
    ) -> HTTPRequestStateMachine.Response? {
        guard !self.overCapacity, let mount = route.mount else { return nil }
        let middleware = self.server.mounts.mounts[mount].middleware
        guard !middleware.isEmpty else { return nil }
        let facts = self.facts(for: head, context: context)
        for step in middleware {
            if let answer = step.intercept(facts, responseHeaders: &self.responseHeaders) {
                return .init(
                    status: answer.status,
                    headers: answer.headers.map { ($0.name, $0.value) },
                    body: answer.body
                )
            }
        }
        return nil
    }

    private func facts(for head: HTTPRequestHead, context: ChannelHandlerContext) -> RequestFacts {
        let (path, query) = FormURLEncoded.parseQuery(head.uri)
        return RequestFacts(
            method: head.method,
            uri: head.uri,
            path: path,
            query: query,
            headers: head.headers,
            remoteAddress: context.channel.remoteAddress,
            version: head.version
        )
    }

    private func rejection(
        for head: HTTPRequestHead,
        route: Route,
        context: ChannelHandlerContext
    ) -> HTTPRequestStateMachine.Response? {
        let configuration = self.server.configuration
        if self.server.closing.load(ordering: .relaxed), route.isHub {
            let retryAfter = max(1, Int(configuration.server.retryAfter.components.seconds))
            return .init(
                status: .serviceUnavailable,
                headers: [("Retry-After", String(retryAfter))],
                body: "the gateway is shutting down, retry later"
            )
        }
        if self.overCapacity {
            let retryAfter = max(1, Int(configuration.server.retryAfter.components.seconds))
            return .init(
                status: .serviceUnavailable,
                headers: [("Retry-After", String(retryAfter))],
                body: "too many open connections, retry later"
            )
        }
        if head.uri.utf8.count > configuration.server.maxHeaderBytes {
            return .init(
                status: .uriTooLong, body: "request target exceeds \(configuration.server.maxHeaderBytes) bytes")
        }
        switch route {
        case .notFound:
            return .init(status: .notFound, body: "no such path: \(head.uri.prefix(200))")
        case .methodNotAllowed(let allow, _):
            return .init(
                status: .methodNotAllowed,
                headers: [("Allow", allow)],
                body: "method \(head.method) is not allowed here; allowed: \(allow)"
            )
        case .publish(let mount):
            if let length = head.headers.first(name: "content-length").flatMap(Int.init),
                length > configuration.hub.maxBodyBytes
            {
                return .init(
                    status: .payloadTooLarge,
                    body: "request body exceeds \(configuration.hub.maxBodyBytes) bytes"
                )
            }
            // With middleware on the route, one of them may authorise the publisher: the address is checked after.
            if self.server.mounts.mounts[mount].middleware.isEmpty, !self.mayPublishAnonymously(context: context) {
                return .init(status: .forbidden, body: "publishing is not allowed from this address")
            }
            let contentType = head.headers.first(name: "content-type")?.lowercased() ?? ""
            guard contentType.hasPrefix("application/x-www-form-urlencoded") else {
                return .init(
                    status: .unsupportedMediaType,
                    body: "publish with Content-Type: application/x-www-form-urlencoded"
                )
            }
            return nil
        case .subscribe, .health, .readiness, .metrics:
            return nil
        }
    }

    private func mayPublishAnonymously(context: ChannelHandlerContext) -> Bool {
        guard let remote = context.channel.remoteAddress else { return false }
        return self.server.configuration.hub.publishAllowedFrom.contains(where: { $0.contains(remote) })
    }

    private func handle(_ head: HTTPRequestHead, route: Route, body: ByteBuffer?, context: ChannelHandlerContext) {
        switch route {
        case .health:
            self.respond(.ok, body: "ok\n", head: head, context: context)
        case .readiness:
            if self.server.ready.load(ordering: .relaxed) {
                self.respond(.ok, body: "ready\n", head: head, context: context)
            } else {
                self.respond(.serviceUnavailable, body: "not ready\n", head: head, context: context)
            }
        case .metrics:
            let bytes = self.server.metrics.render()
            self.respond(
                .ok,
                body: String(decoding: bytes, as: UTF8.self),
                contentType: "text/plain; version=0.0.4; charset=utf-8",
                head: head,
                context: context
            )
        case .publish(let mount):
            self.publish(head: head, body: body, mount: self.server.mounts.mounts[mount], context: context)
        case .subscribe(let mount):
            self.subscribe(head: head, mount: self.server.mounts.mounts[mount], context: context)
        case .notFound, .methodNotAllowed:
            // Answered from the head already.
            break
        }
    }

    private func publish(head: HTTPRequestHead, body: ByteBuffer?, mount: HubMount, context: ChannelHandlerContext) {
        let bytes = body.map { Array($0.readableBytesView) } ?? []
        let request: PublishRequest
        do {
            let form = try FormURLEncoded.parse(bytes)
            request = try PublishRequest(form: form)
        } catch let error as PublishError {
            self.respond(
                HTTPResponseStatus(statusCode: error.status), body: error.reason + "\n", head: head, context: context)
            return
        } catch {
            self.respond(.badRequest, body: "malformed form body: \(error)\n", head: head, context: context)
            return
        }
        if mount.middleware.isEmpty {
            let id = self.server.hub.publish(request)
            self.respond(.ok, body: id, head: head, context: context)
            return
        }
        let publish = PublishContext(
            request: self.facts(for: head, context: context),
            update: request,
            responseHeaders: self.responseHeaders
        )
        let middleware = mount.middleware
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        context.eventLoop.makeFutureWithTask {
            for step in middleware {
                try await step.publish(publish)
            }
        }.whenComplete { result in
            let (handler, context) = loopBound.value
            handler.publishFinished(publish, result: result, head: head, context: context)
        }
    }

    private func publishFinished(
        _ publish: PublishContext,
        result: Result<Void, any Error>,
        head: HTTPRequestHead,
        context: ChannelHandlerContext
    ) {
        self.responseHeaders = publish.responseHeaders
        switch result {
        case .success:
            guard publish.isAuthorized || self.mayPublishAnonymously(context: context) else {
                self.respond(
                    .forbidden, body: "publishing is not allowed from this address\n", head: head, context: context)
                return
            }
            let id = self.server.hub.publish(publish.update)
            self.respond(.ok, body: id, head: head, context: context)
        case .failure(let error):
            let rejection = self.rejection(from: error, subject: "publish phase")
            var response = HTTPRequestStateMachine.Response(status: rejection.status, body: rejection.reason + "\n")
            response.headers = rejection.headers.map { ($0.name, $0.value) }
            self.write(response, close: false, context: context)
        }
    }

    private func rejection(from error: any Error, subject: String, session: Session? = nil) -> HTTPRejection {
        if let rejection = error as? HTTPRejection { return rejection }
        var metadata: Logger.Metadata = [:]
        if let session { metadata["session"] = "\(session.id)" }
        self.server.logger.error("\(subject) failed: \(error)", metadata: metadata)
        return HTTPRejection(.internalServerError, reason: "the request could not be completed")
    }

    // MARK: Subscribe

    private func subscribe(head: HTTPRequestHead, mount: HubMount, context: ChannelHandlerContext) {
        let facts = self.facts(for: head, context: context)
        let query = facts.query
        let topics = query.compactMap { $0.name == "topic" ? $0.value : nil }
        guard !topics.isEmpty else {
            self.respond(.badRequest, body: "Missing \"topic\" parameter\n", head: head, context: context)
            return
        }
        let selectors: [TopicSelector]
        switch SubscribeLimits(self.server.configuration.hub.subscribe).check(topics) {
        case .accepted(let parsed):
            selectors = parsed
        case .rejected(let reason):
            self.respond(.badRequest, body: reason + "\n", head: head, context: context)
            return
        }
        let lastEventID =
            head.headers.first(name: "last-event-id")
            ?? query.first(where: { $0.name == "lastEventID" })?.value
        let session = Session(
            id: EventID.generate(),
            request: facts,
            topics: selectors,
            lastEventID: lastEventID,
            eventLoop: context.eventLoop,
            environment: self.server.sessionEnvironment,
            responseHeaders: self.responseHeaders
        )
        self.server.sessionEnvironment.didOpen(session)
        let shard = self.server.hub.shard(for: context.eventLoop)
        shard.track(session)
        session.closeFuture.whenComplete { _ in shard.untrack(session) }
        if head.method != .HEAD {
            // A HEAD session ends after its head while the connection stays open for the next request.
            let channel = context.channel
            session.setTeardown { _ in channel.close(promise: nil) }
        }
        self.connectingSession = session

        if mount.middleware.isEmpty {
            self.connectFinished(session: session, mount: mount, result: .success(()), context: context)
            return
        }
        let middleware = mount.middleware
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        context.eventLoop.makeFutureWithTask {
            for step in middleware {
                try await step.connect(session)
            }
        }.whenComplete { result in
            let (handler, context) = loopBound.value
            handler.connectFinished(session: session, mount: mount, result: result, context: context)
        }
    }

    private func connectFinished(
        session: Session,
        mount: HubMount,
        result: Result<Void, any Error>,
        context: ChannelHandlerContext
    ) {
        self.connectingSession = nil
        guard !session.isClosed, context.channel.isActive else {
            session.close(reason: .clientDisconnected)
            return
        }
        switch result {
        case .success:
            if session.request.method == .HEAD {
                self.writeStreamHeadOnly(session: session, context: context)
            } else {
                self.openStream(session: session, mount: mount, context: context)
            }
        case .failure(let error):
            let rejection = self.rejection(from: error, subject: "connect phase", session: session)
            self.responseHeaders = session.responseHeaders
            // The refusal's body is plain text: a coding negotiated for the stream does not apply to it.
            self.responseHeaders.remove(name: "Content-Encoding")
            var response = HTTPRequestStateMachine.Response(status: rejection.status, body: rejection.reason + "\n")
            response.headers = rejection.headers.map { ($0.name, $0.value) }
            self.writeResponse(response, keepAlive: false, context: context).whenComplete { _ in
                session.close(reason: .rejected)
            }
        }
    }

    /// `HEAD` on the hub passed the connect phase: answer with the stream's head and end, keeping the connection.
    private func writeStreamHeadOnly(session: Session, context: ChannelHandlerContext) {
        var headers = HTTPHeaders()
        for (name, value) in StreamHead.headers { headers.add(name: name, value: value) }
        headers.add(contentsOf: session.responseHeaders)
        let keepAlive = self.machine.responseSent(keepAlive: true)
        headers.add(name: "Connection", value: keepAlive ? "keep-alive" : "close")
        let head = HTTPResponseHead(version: .http1_1, status: .ok, headers: headers)
        context.write(self.wrapOutboundOut(.head(head)), promise: nil)
        let channel = context.channel
        context.writeAndFlush(self.wrapOutboundOut(.end(nil))).whenComplete { _ in
            session.close(reason: .headRequest)
            if !keepAlive { channel.close(promise: nil) }
        }
        self.server.metrics.httpResponse(status: 200)
        if keepAlive {
            self.armTimer(context: context, after: self.server.configuration.server.keepAliveTimeout)
        }
    }

    /// Swaps the HTTP codec for the raw stream writer; from here on the connection carries events only.
    private func openStream(session: Session, mount: HubMount, context: ChannelHandlerContext) {
        let chunked = session.request.version.major == 1 && session.request.version.minor >= 1
        var head = StreamHead.encode(chunked: chunked, allocator: context.channel.allocator)
        for (name, value) in session.responseHeaders {
            head.writeString("\(name): \(value)\r\n")
        }
        let stream = SSEStreamHandler(
            session: session,
            hub: self.server.hub,
            head: head,
            chunked: chunked,
            maxBufferedBytes: max(1, self.server.configuration.streams.maxBufferedBytes / 2)
        )
        let sessionStream = SessionStream(session: session, channel: context.channel)
        stream.link(sessionStream)
        stream.setFilters(mount.middleware.compactMap { $0.makeStreamFilter(for: sessionStream) })
        self.machine.startedStreaming()
        self.server.metrics.httpResponse(status: 200)
        let pipeline = context.pipeline.syncOperations
        pipeline.removeHandler(self.encoder, promise: nil)
        do {
            try pipeline.addHandler(stream)
        } catch {
            stream.unlink()
            session.close(reason: .writeFailed)
            return
        }
        pipeline.removeHandler(self.decoder, promise: nil)
        pipeline.removeHandler(context: context, promise: nil)
    }

    // MARK: Writing

    private func respond(
        _ status: HTTPResponseStatus,
        body: String,
        contentType: String = "text/plain; charset=utf-8",
        head: HTTPRequestHead,
        context: ChannelHandlerContext
    ) {
        let response = HTTPRequestStateMachine.Response(
            status: status,
            headers: [("Content-Type", contentType)],
            body: head.method == .HEAD ? "" : body
        )
        self.write(response, close: false, context: context)
    }

    private func write(_ response: HTTPRequestStateMachine.Response, close: Bool, context: ChannelHandlerContext) {
        let keepAlive = close ? false : self.machine.responseSent(keepAlive: true)
        let channel = context.channel
        self.writeResponse(response, keepAlive: keepAlive, context: context).whenComplete { _ in
            if !keepAlive { channel.close(promise: nil) }
        }
        if keepAlive {
            self.armTimer(context: context, after: self.server.configuration.server.keepAliveTimeout)
        }
    }

    @discardableResult
    private func writeResponse(
        _ response: HTTPRequestStateMachine.Response,
        keepAlive: Bool,
        context: ChannelHandlerContext
    ) -> EventLoopFuture<Void> {
        var headers = HTTPHeaders()
        var hasContentType = false
        headers.add(contentsOf: self.responseHeaders)
        for (name, value) in response.headers {
            if name.lowercased() == "content-type" { hasContentType = true }
            headers.add(name: name, value: value)
        }
        var body = context.channel.allocator.buffer(capacity: response.body.utf8.count)
        if response.status == .noContent {
            // A 204 has neither content nor a Content-Length (RFC 9110, 8.6).
            headers.remove(name: "Content-Type")
        } else {
            if !hasContentType { headers.add(name: "Content-Type", value: "text/plain; charset=utf-8") }
            body.writeString(response.body)
            headers.add(name: "Content-Length", value: String(body.readableBytes))
        }
        headers.add(name: "Connection", value: keepAlive ? "keep-alive" : "close")
        self.server.metrics.httpResponse(status: Int(response.status.code))
        context.write(
            self.wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: response.status, headers: headers))),
            promise: nil
        )
        if body.readableBytes > 0 {
            context.write(self.wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
        }
        return context.writeAndFlush(self.wrapOutboundOut(.end(nil)))
    }

    private func armTimer(context: ChannelHandlerContext, after duration: Duration) {
        self.timer?.cancel()
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        self.timer = context.eventLoop.scheduleTask(in: TimeAmount(duration)) {
            let (handler, context) = loopBound.value
            handler.timer = nil
            handler.perform(handler.machine.timerFired(), context: context)
        }
    }
}
