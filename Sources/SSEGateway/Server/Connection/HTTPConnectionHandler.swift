import NIOCore
import NIOHTTP1

/// Drives one HTTP/1.1 connection: it feeds what happens on the channel to ``HTTPConnectionStateMachine`` and
/// performs the actions the machine returns.
///
/// Decisions live in the machine, admission in ``AdmissionPolicy``, and the work of each route in its endpoint. A
/// subscribe that passes its connect phase hands the connection over to an ``SSEStreamHandler``.
final class HTTPConnectionHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart
    private typealias Action = HTTPConnectionStateMachine.Action

    private let server: ServerContext
    private let codec: any ConnectionCodec
    private let capacity: AdmissionPolicy.Connection.Capacity
    private var machine: HTTPConnectionStateMachine
    private var timer: (deadline: NIODeadline, task: Scheduled<Void>)?
    private var readPending = false
    private var actions: [Action] = []
    private var driving = false
    /// The request in progress: its head and route, and the headers middleware added for every answer to it.
    private var request: (head: HTTPRequestHead, route: Route)?
    private var responseHeaders = HTTPHeaders()
    /// The session of a subscribe in progress, and how to close it once its answer is written.
    private var session: (session: Session, closeAfterAnswer: CloseReason?)?
    /// What the stream of ``session`` replays, from its connect phase.
    private var replay: ReplayPlan?
    private var update: PublishRequest?
    /// The publish in progress's place in the commit order, from its arrival until it is committed or ends.
    private var ticket: PublishTicket?
    private var publishAllowedFromPeer: Bool?

    init(server: ServerContext, codec: any ConnectionCodec, capacity: AdmissionPolicy.Connection.Capacity) {
        self.server = server
        self.codec = codec
        self.capacity = capacity
        self.machine = HTTPConnectionStateMachine(configuration: server.connectionConfiguration, now: .now())
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.sync(context: context)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.timer?.task.cancel()
        self.timer = nil
        self.endTicket()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        self.machine.received(self.unwrapInboundIn(data))
        self.drive(.none, context: context)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is ByteArrivalHandler.Arrived {
            self.machine.bytesArrived(now: .now())
            self.sync(context: context)
        } else if let event = event as? ChannelEvent, event == .inputClosed {
            self.drive(self.machine.inputClosed(), context: context)
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard error is HTTPParserError || error is ByteToMessageDecoderError else {
            context.close(promise: nil)
            return
        }
        self.machine.decodingFailed(error)
        self.drive(.none, context: context)
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.drive(self.machine.channelClosed(), context: context)
        context.fireChannelInactive()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        self.machine.writabilityChanged(isWritable: context.channel.isWritable, now: .now())
        self.drive(.none, context: context)
        context.fireChannelWritabilityChanged()
    }

    /// Reads are withheld while the machine does not want them, so pipelined requests wait in the socket.
    func read(context: ChannelHandlerContext) {
        if self.machine.wantsRead {
            context.read()
        } else {
            self.readPending = true
        }
    }

    // MARK: Driving the machine

    /// Performs `action`, its follow-ups and whatever the inbox then yields. Re-entrant calls (a future completed
    /// synchronously, a writability change during a write) queue their action for the loop already running.
    private func drive(_ action: Action, context: ChannelHandlerContext) {
        if action != .none { self.actions.append(action) }
        guard !self.driving else { return }
        self.driving = true
        while true {
            if !self.actions.isEmpty {
                if let followUp = self.perform(self.actions.removeFirst(), context: context) {
                    self.actions.insert(followUp, at: 0)
                }
            } else if let next = self.machine.pump(now: .now()) {
                self.actions.append(next)
            } else {
                break
            }
        }
        self.driving = false
        self.sync(context: context)
    }

    /// Arms the timer for the machine's deadline and resumes withheld reads the machine now wants.
    ///
    /// A deadline that moves later keeps the armed timer, which fires early, finds the deadline ahead and is armed
    /// again: a kept-alive publisher moves its deadline three times per request, and each cancellation costs a search
    /// of the loop's timer heap, which holds every stream's heartbeat.
    private func sync(context: ChannelHandlerContext) {
        guard !self.machine.isStreaming else { return }
        let deadline = self.machine.deadline
        if let armed = self.timer, deadline == nil || deadline! < armed.deadline {
            armed.task.cancel()
            self.timer = nil
        }
        if self.timer == nil, let deadline {
            let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
            let task = context.eventLoop.scheduleTask(deadline: deadline) {
                let (handler, context) = bound.value
                handler.timer = nil
                handler.drive(handler.machine.timerFired(now: .now()), context: context)
            }
            self.timer = (deadline, task)
        }
        if self.readPending, self.machine.wantsRead {
            self.readPending = false
            context.read()
        }
    }

    /// Performs one action; returns the machine's follow-up when the action reports back at once.
    private func perform(_ action: Action, context: ChannelHandlerContext) -> Action? {
        switch action {
        case .none:
            return nil
        case .evaluate(let head):
            return self.machine.evaluated(self.evaluate(head, context: context), now: .now())
        case .sendContinue:
            ResponseWriter(metrics: self.server.metrics).writeContinue(context: context)
        case .runAdmissionPhase(let head):
            self.runAdmissionPhase(head, context: context)
        case .runPublishPhase(let head, let body):
            return self.runPublishPhase(head, body: body, context: context)
        case .runConnectPhase(let head):
            self.runConnectPhase(head, context: context)
        case .serveOperational(_, let route, let keepAlive):
            self.respond(OperationalEndpoint(server: self.server).response(for: route), keepAlive, context: context)
        case .commitPublish:
            guard let update = self.update else { return nil }
            self.update = nil
            let ticket = self.ticket
            self.ticket = nil
            let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
            PublishEndpoint(server: self.server).commit(update, ticket: ticket, on: context.eventLoop) { response in
                let (handler, context) = bound.value
                handler.drive(handler.machine.committed(response, now: .now()), context: context)
            }
        case .respond(let response, let keepAlive):
            self.respond(response, keepAlive, context: context)
        case .respondToCommit(let response, let keepAlive):
            // Flushed after the loop's next poll, so that the client's next publish cannot overtake publishes that
            // reached other connections first (see `PollBarrier`); the read for it is armed before then.
            self.respond(response, keepAlive, flushAfterPoll: true, context: context)
        case .switchToStream:
            self.switchToStream(context: context)
        case .abandonPhase(let answer):
            self.update = nil
            self.endTicket()
            if let answer {
                self.session?.closeAfterAnswer = .timeout
                self.respond(answer, false, context: context)
            } else {
                self.session?.session.close(reason: .clientDisconnected)
                self.session = nil
                context.flush()
                context.close(promise: nil)
            }
        case .close:
            // An answer whose flush waits for the next poll leaves first.
            context.flush()
            context.close(promise: nil)
        }
        return nil
    }

    // MARK: Actions

    private func evaluate(_ head: HTTPRequestHead, context: ChannelHandlerContext) -> HTTPConnectionStateMachine.Verdict
    {
        self.responseHeaders = HTTPHeaders()
        let (route, verdict) = RequestRouter(server: self.server).route(
            head,
            capacity: self.capacity,
            remoteAddress: context.channel.remoteAddress,
            mayPublishAnonymously: { self.mayPublishAnonymously(context: context) },
            responseHeaders: &self.responseHeaders
        )
        self.request = (head, route)
        return verdict
    }

    private func runAdmissionPhase(_ head: HTTPRequestHead, context: ChannelHandlerContext) {
        guard let mount = self.request?.route.mount else { return }
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        PublishEndpoint(server: self.server).admit(
            request: RequestFacts(head: head, remoteAddress: context.channel.remoteAddress),
            mount: self.server.mounts.mounts[mount],
            eventLoop: context.eventLoop
        ).whenSuccess { outcome in
            let (handler, context) = bound.value
            handler.drive(handler.machine.phaseFinished(outcome, now: .now()), context: context)
        }
    }

    /// Starts the publish phase; returns the machine's follow-up when the decision is made at once.
    private func runPublishPhase(_ head: HTTPRequestHead, body: ByteBuffer, context: ChannelHandlerContext) -> Action? {
        guard let mount = self.request?.route.mount else { return nil }
        // Its place in the commit order is where it arrived, however long its publish phase takes.
        self.endTicket()
        self.ticket = self.server.hub.committer.reserve()
        let pending = PublishEndpoint(server: self.server).decide(
            body: body,
            request: RequestFacts(head: head, remoteAddress: context.channel.remoteAddress),
            mount: self.server.mounts.mounts[mount],
            responseHeaders: self.responseHeaders,
            mayPublishAnonymously: self.mayPublishAnonymously(context: context),
            eventLoop: context.eventLoop
        )
        switch pending {
        case .decided(let decision):
            return self.publishDecided(decision)
        case .deciding(let future):
            let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
            future.whenSuccess { decision in
                let (handler, context) = bound.value
                handler.drive(handler.publishDecided(decision), context: context)
            }
            return nil
        }
    }

    private func publishDecided(_ decision: PublishEndpoint.Decision) -> Action {
        self.update = decision.update
        if decision.update == nil { self.endTicket() }
        self.responseHeaders = decision.responseHeaders
        return self.machine.phaseFinished(decision.outcome, now: .now())
    }

    private func runConnectPhase(_ head: HTTPRequestHead, context: ChannelHandlerContext) {
        guard let mount = self.request?.route.mount else { return }
        let endpoint = SubscribeEndpoint(server: self.server)
        let facts = RequestFacts(head: head, remoteAddress: context.channel.remoteAddress)
        let mountValue = self.server.mounts.mounts[mount]
        switch endpoint.start(
            head, request: facts, mount: mountValue, responseHeaders: self.responseHeaders, channel: context.channel)
        {
        case .refused(let response):
            self.drive(self.machine.phaseFinished(.answer(response, keepAlive: true), now: .now()), context: context)
        case .connecting(let session, let phase):
            self.session = (session, nil)
            let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
            phase.whenComplete { result in
                let (handler, context) = bound.value
                // Abandoned meanwhile (the client left, or the deadline passed): the session was closed then.
                guard handler.session?.session === session else { return }
                let (outcome, headers, closeAfterAnswer) = endpoint.outcome(of: result, for: session)
                handler.replay = try? result.get()
                handler.responseHeaders = headers
                handler.session = (session, closeAfterAnswer)
                handler.drive(handler.machine.phaseFinished(outcome, now: .now()), context: context)
            }
        }
    }

    private func switchToStream(context: ChannelHandlerContext) {
        guard let (session, _) = self.session, let mount = self.request?.route.mount else { return }
        self.session = nil
        let replay = self.replay
        self.replay = nil
        self.timer?.task.cancel()
        self.timer = nil
        // The stream reads on (to notice a departing client); a read withheld during the connect phase resumes.
        if self.readPending {
            self.readPending = false
            context.read()
        }
        SubscribeEndpoint(server: self.server).open(
            session, replay: replay, mount: self.server.mounts.mounts[mount], codec: self.codec, connection: context)
    }

    /// Releases the ticket of a publish that will not be committed.
    private func endTicket() {
        self.ticket?.release()
        self.ticket = nil
    }

    private func respond(
        _ response: HTTPResponse, _ keepAlive: Bool, flushAfterPoll: Bool = false, context: ChannelHandlerContext
    ) {
        // Any answer but the commit's own means the publish in progress, if any, is not committed.
        self.update = nil
        self.endTicket()
        let barrier = flushAfterPoll && keepAlive ? self.server.pollBarrier(for: context.eventLoop) : nil
        let written = ResponseWriter(metrics: self.server.metrics).write(
            response,
            extraHeaders: self.responseHeaders,
            keepAlive: keepAlive,
            omitBody: self.request?.head.method == .HEAD,
            flush: barrier == nil,
            context: context
        )
        if let barrier {
            let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
            barrier.afterNextPoll { bound.value.flush() }
        }
        let session = self.session
        self.session = nil
        let channel = context.channel
        written.whenComplete { _ in
            if let session, let reason = session.closeAfterAnswer { session.session.close(reason: reason) }
            if !keepAlive { channel.close(promise: nil) }
        }
    }

    private func mayPublishAnonymously(context: ChannelHandlerContext) -> Bool {
        if let allowed = self.publishAllowedFromPeer { return allowed }
        let ranges = self.server.configuration.hub.publishAllowedFrom
        let allowed = context.channel.remoteAddress.map { remote in ranges.contains { $0.contains(remote) } } ?? false
        self.publishAllowedFromPeer = allowed
        return allowed
    }
}
