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
            let route = Route(method: head.method, path: String(path))
            let rejection = self.rejection(for: head, route: route, context: context)
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

    private func rejection(
        for head: HTTPRequestHead,
        route: Route,
        context: ChannelHandlerContext
    ) -> HTTPRequestStateMachine.Response? {
        let configuration = self.server.configuration
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
        case .methodNotAllowed(let allow):
            return .init(
                status: .methodNotAllowed,
                headers: [("Allow", allow)],
                body: "method \(head.method) is not allowed here; allowed: \(allow)"
            )
        case .publish:
            if let length = head.headers.first(name: "content-length").flatMap(Int.init),
                length > configuration.hub.maxBodyBytes
            {
                return .init(
                    status: .payloadTooLarge,
                    body: "request body exceeds \(configuration.hub.maxBodyBytes) bytes"
                )
            }
            guard let remote = context.channel.remoteAddress,
                configuration.hub.publishAllowedFrom.contains(where: { $0.contains(remote) })
            else {
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
        case .publish:
            self.publish(head: head, body: body, context: context)
        case .subscribe:
            self.subscribe(head: head, context: context)
        case .notFound, .methodNotAllowed:
            // Answered from the head already.
            break
        }
    }

    private func publish(head: HTTPRequestHead, body: ByteBuffer?, context: ChannelHandlerContext) {
        let bytes = body.map { Array($0.readableBytesView) } ?? []
        do {
            let form = try FormURLEncoded.parse(bytes)
            let request = try PublishRequest(form: form)
            let id = self.server.hub.publish(request)
            self.respond(.ok, body: id, head: head, context: context)
        } catch let error as PublishError {
            self.respond(
                HTTPResponseStatus(statusCode: error.status), body: error.reason + "\n", head: head, context: context)
        } catch {
            self.respond(.badRequest, body: "malformed form body: \(error)\n", head: head, context: context)
        }
    }

    // MARK: Subscribe

    private func subscribe(head: HTTPRequestHead, context: ChannelHandlerContext) {
        let (path, query) = FormURLEncoded.parseQuery(head.uri)
        let topics = query.compactMap { $0.name == "topic" ? $0.value : nil }
        guard !topics.isEmpty else {
            self.respond(.badRequest, body: "Missing \"topic\" parameter\n", head: head, context: context)
            return
        }
        guard topics.count <= PublishRequest.maxTopics else {
            self.respond(
                .badRequest, body: "Too many \"topic\" parameters (max \(PublishRequest.maxTopics))\n", head: head,
                context: context)
            return
        }
        let lastEventID =
            head.headers.first(name: "last-event-id")
            ?? query.first(where: { $0.name == "lastEventID" })?.value
        let facts = RequestFacts(
            method: head.method,
            uri: head.uri,
            path: path,
            query: query,
            headers: head.headers,
            remoteAddress: context.channel.remoteAddress,
            version: head.version
        )
        let session = Session(
            id: EventID.generate(),
            request: facts,
            topics: topics.map(TopicSelector.init),
            lastEventID: lastEventID,
            eventLoop: context.eventLoop,
            environment: self.server.sessionEnvironment
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

        if self.server.middleware.isEmpty {
            self.connectFinished(session: session, result: .success(()), context: context)
            return
        }
        let middleware = self.server.middleware
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        context.eventLoop.makeFutureWithTask {
            for step in middleware {
                try await step.connect(session)
            }
        }.whenComplete { result in
            let (handler, context) = loopBound.value
            handler.connectFinished(session: session, result: result, context: context)
        }
    }

    private func connectFinished(session: Session, result: Result<Void, any Error>, context: ChannelHandlerContext) {
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
                self.openStream(session: session, context: context)
            }
        case .failure(let error):
            let rejection =
                error as? HTTPRejection
                ?? HTTPRejection(.internalServerError, reason: "the stream could not be opened")
            if !(error is HTTPRejection) {
                self.server.logger.error(
                    "connect phase failed: \(error)",
                    metadata: ["session": "\(session.id)"]
                )
            }
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
    private func openStream(session: Session, context: ChannelHandlerContext) {
        let chunked = session.request.version.major == 1 && session.request.version.minor >= 1
        let head = StreamHead.encode(chunked: chunked, allocator: context.channel.allocator)
        let stream = SSEStreamHandler(
            session: session,
            hub: self.server.hub,
            head: head,
            chunked: chunked,
            maxBufferedBytes: max(1, self.server.configuration.streams.maxBufferedBytes / 2)
        )
        self.machine.startedStreaming()
        self.server.metrics.httpResponse(status: 200)
        let pipeline = context.pipeline.syncOperations
        pipeline.removeHandler(self.encoder, promise: nil)
        do {
            try pipeline.addHandler(stream)
        } catch {
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
        for (name, value) in response.headers {
            if name.lowercased() == "content-type" { hasContentType = true }
            headers.add(name: name, value: value)
        }
        if !hasContentType { headers.add(name: "Content-Type", value: "text/plain; charset=utf-8") }
        var body = context.channel.allocator.buffer(capacity: response.body.utf8.count)
        body.writeString(response.body)
        headers.add(name: "Content-Length", value: String(body.readableBytes))
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
