import NIOCore
import NIOHTTP1

/// Every decision about one HTTP/1.1 connection, as a value that takes what happened and returns what to do.
///
/// One request is in progress at a time. Parts of the next request that arrive while the current one is being
/// decided (a middleware phase, a commit) wait in the machine's inbox, and ``wantsRead`` turns false so that
/// anything further stays in the socket: requests are answered in order, a request is never acted on before the one
/// ahead of it is answered, and no request is acted on without an answer unless the client left first.
///
/// The states, and the deadline each one runs under (``deadline``):
/// - `awaitingHead`: before the first request (`server.requestHeaderTimeout`, then `408`), idle between requests
///   (`server.keepAliveTimeout`, then a silent close) or with part of a head received (the header timeout again);
/// - `evaluating`: the head is with the admission policy, synchronously;
/// - `receivingBody` / `discardingBody`: the body of a served or refused request (`server.requestBodyTimeout`, then
///   `408`), bounded by `hub.maxBodyBytes` for `Content-Length` and chunked bodies alike;
/// - `awaitingPhase`: a publish's admission (from its head, for a client that waits for `100 Continue`), publish or
///   connect phase runs, reads paused (`server.middlewareTimeout`, then `503` and the phase's outcome is never acted
///   on);
/// - `committing`: a decided publish enters the hub; no deadline, because an update that is accepted is answered;
/// - `blockedOnOutput`: answers wait for a client that does not read them (`server.keepAliveTimeout`);
/// - `streaming`: the connection belongs to an event stream; `closed`.
///
/// The deadline and ``wantsRead`` are properties of the state rather than actions, so no transition can forget to
/// re-arm a timer or resume reading: the handler syncs both after each step. Modelled on swift-nio's
/// `HTTPServerPipelineHandler` (reads withheld while a response is pending) and
/// `NIOTypedHTTPServerUpgraderStateMachine` (a head, an asynchronous decision, then a pipeline switch).
struct HTTPConnectionStateMachine {
    struct Configuration: Equatable, Sendable {
        var requestHeaderTimeout: TimeAmount
        var requestBodyTimeout: TimeAmount
        var keepAliveTimeout: TimeAmount
        var middlewareTimeout: TimeAmount
        var maxBodyBytes: Int
        /// Seconds a client is told to wait in `Retry-After` when a phase overran its deadline.
        var retryAfterSeconds: Int
    }

    /// What the admission policy decided from a request head.
    enum Verdict: Equatable {
        /// Serve the request; `keepAlive` false closes the connection after its answer (the server is quiescing).
        case serve(Route, keepAlive: Bool)
        /// Answer with `response` and do not act on the request. With `close`, answer at once without reading the
        /// body and close the connection; otherwise read and drop the body, answer, and keep the connection.
        case answer(HTTPResponse, close: Bool)
    }

    /// How an admission, publish or connect phase ended.
    enum PhaseOutcome: Equatable {
        /// The publish is admitted from its head: ask for its body.
        case readBody
        /// The publish may enter the hub.
        case commit
        /// The stream may open.
        case openStream
        /// Answer with `response`; `keepAlive` false closes the connection after it.
        case answer(HTTPResponse, keepAlive: Bool)
    }

    enum Action: Equatable {
        case none
        /// Decide on this head (admission, middleware interception) and report through ``evaluated(_:now:)``.
        case evaluate(HTTPRequestHead)
        /// Send `100 Continue`: the client holds its body back until it sees it.
        case sendContinue
        /// Run the chain's publish admission on the head of a publish whose client waits for `100 Continue`, and
        /// report through ``phaseFinished(_:now:)``.
        case runAdmissionPhase(HTTPRequestHead)
        /// Run the chain's publish phase and report through ``phaseFinished(_:now:)``.
        case runPublishPhase(HTTPRequestHead, body: ByteBuffer)
        /// Run the chain's connect phase for a stream and report through ``phaseFinished(_:now:)``.
        case runConnectPhase(HTTPRequestHead)
        /// Answer `/healthz`, `/readyz` or `/metrics` at once.
        case serveOperational(HTTPRequestHead, Route, keepAlive: Bool)
        /// Put the decided publish into the hub and report its answer through ``committed(_:now:)``.
        case commitPublish
        case respond(HTTPResponse, keepAlive: Bool)
        /// Answer a publish the hub has taken. The connection is idle and reads on before the answer leaves, so the
        /// handler may hold the answer's flush back (see `PollBarrier`).
        case respondToCommit(HTTPResponse, keepAlive: Bool)
        /// Write the stream's head and hand the connection over to the stream.
        case switchToStream
        /// The running phase lost its request (deadline, or the client left): never act on its outcome, answer
        /// with `answer` when there is one, and close.
        case abandonPhase(answer: HTTPResponse?)
        case close
    }

    private enum Phase: Equatable {
        case admission
        case publish
        case connect
    }

    private enum HeadWait: Equatable {
        /// Nothing received yet on a new connection.
        case first
        /// Between requests on a kept-alive connection.
        case idle
        /// Part of a head received after an idle period.
        case partial
    }

    private struct Request {
        var head: HTTPRequestHead
        var route: Route
        var keepAlive: Bool
        var contentLength: Int?
    }

    private enum State {
        case awaitingHead(HeadWait, deadline: NIODeadline)
        case evaluating(HTTPRequestHead)
        case receivingBody(Request, RequestBody, deadline: NIODeadline)
        case discardingBody(HTTPResponse, keepAlive: Bool, discarded: Int, deadline: NIODeadline)
        case awaitingPhase(Request, Phase, deadline: NIODeadline)
        case committing(Request)
        case blockedOnOutput(deadline: NIODeadline)
        case streaming
        case closed
        /// Held only while a body is appended, so the state does not share (and copy) the body's buffer.
        case modifying
    }

    /// What arrives from the channel, in order.
    private enum Input {
        case part(HTTPServerRequestPart)
        case malformed(HTTPResponse)
        case inputClosed
    }

    private let configuration: Configuration
    private var state: State
    private var inbox = CircularBuffer<Input>(initialCapacity: 4)

    init(configuration: Configuration, now: NIODeadline) {
        self.configuration = configuration
        self.state = .awaitingHead(.first, deadline: now + configuration.requestHeaderTimeout)
    }

    // MARK: What the handler reads after each step

    /// When the current phase runs out; nil when it has no deadline.
    var deadline: NIODeadline? {
        switch self.state {
        case .awaitingHead(_, let deadline), .receivingBody(_, _, let deadline),
            .discardingBody(_, _, _, let deadline), .awaitingPhase(_, _, let deadline),
            .blockedOnOutput(let deadline):
            return deadline
        case .evaluating, .committing, .streaming, .closed, .modifying:
            return nil
        }
    }

    /// Whether the channel should read: only while a request is being received and nothing waits in the inbox,
    /// so that a pipelined request stays in the socket, not in memory, while the one ahead of it is decided.
    var wantsRead: Bool {
        self.isReceiving && self.inbox.isEmpty
    }

    var isStreaming: Bool {
        if case .streaming = self.state { return true }
        return false
    }

    var isClosed: Bool {
        if case .closed = self.state { return true }
        return false
    }

    private var isReceiving: Bool {
        switch self.state {
        case .awaitingHead, .receivingBody, .discardingBody: true
        default: false
        }
    }

    // MARK: Inputs from the channel

    /// A request part from the decoder; it is acted on by ``pump(now:)`` when its turn comes.
    mutating func received(_ part: HTTPServerRequestPart) {
        guard !self.isClosed, !self.isStreaming else { return }
        self.inbox.append(.part(part))
    }

    /// The decoder gave up on the bytes after the parts already received: they get `431` or `400`, in their turn.
    mutating func decodingFailed(_ error: any Error) {
        guard !self.isClosed, !self.isStreaming else { return }
        let response: HTTPResponse
        if let parserError = error as? HTTPParserError, parserError == .headerOverflow {
            response = .text(.requestHeaderFieldsTooLarge, "request line or header section too large")
        } else {
            response = .text(.badRequest, "malformed HTTP request: \(error)")
        }
        self.inbox.append(.malformed(response))
    }

    /// The client closed its side (FIN). A stream being connected has lost its reader; a request being decided
    /// is still answered, and the connection closes once the requests received before the FIN are answered.
    mutating func inputClosed() -> Action {
        if case .awaitingPhase(_, .connect, _) = self.state {
            self.close()
            return .abandonPhase(answer: nil)
        }
        guard !self.isClosed, !self.isStreaming else { return .none }
        self.inbox.append(.inputClosed)
        return .none
    }

    /// Bytes arrived from the socket, before they are decoded: an idle connection now has a head under way.
    mutating func bytesArrived(now: NIODeadline) {
        if case .awaitingHead(.idle, _) = self.state {
            self.state = .awaitingHead(.partial, deadline: now + self.configuration.requestHeaderTimeout)
        }
    }

    /// The channel's writability changed: between requests, an unwritable channel holds further answers back.
    mutating func writabilityChanged(isWritable: Bool, now: NIODeadline) {
        switch self.state {
        case .awaitingHead(.idle, _) where !isWritable:
            self.state = .blockedOnOutput(deadline: now + self.configuration.keepAliveTimeout)
        case .blockedOnOutput where isWritable:
            self.state = .awaitingHead(.idle, deadline: now + self.configuration.keepAliveTimeout)
        default:
            break
        }
    }

    /// The connection is gone; a phase still running must not act.
    mutating func channelClosed() -> Action {
        let running: Bool
        if case .awaitingPhase = self.state { running = true } else { running = false }
        self.close()
        return running ? .abandonPhase(answer: nil) : .none
    }

    /// The timer armed for ``deadline`` fired; a timer that fires early or late for a past state does nothing.
    mutating func timerFired(now: NIODeadline) -> Action {
        guard let deadline = self.deadline, deadline <= now else { return .none }
        switch self.state {
        case .awaitingHead(.idle, _), .blockedOnOutput:
            self.close()
            return .close
        case .awaitingHead:
            self.close()
            let limit = self.configuration.requestHeaderTimeout
            return .respond(.text(.requestTimeout, "request head not received within \(limit.text)"), keepAlive: false)
        case .receivingBody, .discardingBody:
            self.close()
            let limit = self.configuration.requestBodyTimeout
            return .respond(.text(.requestTimeout, "request body not received within \(limit.text)"), keepAlive: false)
        case .awaitingPhase:
            self.close()
            let limit = self.configuration.middlewareTimeout
            return .abandonPhase(
                answer: .retryLater(
                    "the request was not decided within \(limit.text)", after: self.configuration.retryAfterSeconds)
            )
        case .evaluating, .committing, .streaming, .closed, .modifying:
            return .none
        }
    }

    // MARK: Acting on the inbox

    /// The next action for what waits in the inbox, or nil when the machine waits for something else (a phase,
    /// a commit, writability, more bytes). The handler calls it until it returns nil.
    mutating func pump(now: NIODeadline) -> Action? {
        guard self.isReceiving, let input = self.inbox.popFirst() else { return nil }
        switch input {
        case .part(let part):
            return self.process(part, now: now)
        case .malformed(let response):
            self.close()
            return .respond(response, keepAlive: false)
        case .inputClosed:
            // Whatever was still incomplete can never be answered.
            self.close()
            return .close
        }
    }

    /// The admission policy's verdict on the head reported by ``Action/evaluate(_:)``.
    mutating func evaluated(_ verdict: Verdict, now: NIODeadline) -> Action {
        guard case .evaluating(let head) = self.state else { return .none }
        let expectsContinue = head.headers.first(name: "expect")?.lowercased() == "100-continue"
        let bodyDeadline = now + self.configuration.requestBodyTimeout
        switch verdict {
        case .answer(let response, close: true):
            self.close()
            return .respond(response, keepAlive: false)
        case .answer(let response, close: false):
            if expectsContinue {
                // The client holds its body back for a `100 Continue` that will not come: answer now and close,
                // rather than leave the body's bytes in doubt.
                self.close()
                return .respond(response, keepAlive: false)
            }
            self.state = .discardingBody(response, keepAlive: head.isKeepAlive, discarded: 0, deadline: bodyDeadline)
            return .none
        case .serve(let route, let keepAlive):
            let length = head.headers.first(name: "content-length").flatMap { Int($0) }
            if let length, length > self.configuration.maxBodyBytes {
                self.close()
                return .respond(self.bodyTooLarge, keepAlive: false)
            }
            let request = Request(
                head: head, route: route, keepAlive: keepAlive && head.isKeepAlive, contentLength: length)
            if expectsContinue, route.readsBody {
                // The client waits before sending the body: let the chain refuse from the head first.
                self.state = .awaitingPhase(request, .admission, deadline: now + self.configuration.middlewareTimeout)
                return .runAdmissionPhase(head)
            }
            let body = RequestBody(keepsBytes: route.readsBody, expectedSize: length)
            self.state = .receivingBody(request, body, deadline: bodyDeadline)
            return expectsContinue ? .sendContinue : .none
        }
    }

    /// The outcome of the phase started by ``Action/runPublishPhase(_:body:)`` or ``Action/runConnectPhase(_:)``.
    /// An outcome that arrives after the phase was abandoned finds the connection closed and does nothing.
    mutating func phaseFinished(_ outcome: PhaseOutcome, now: NIODeadline) -> Action {
        guard case .awaitingPhase(let request, let phase, _) = self.state else { return .none }
        switch (outcome, phase) {
        case (.readBody, .admission):
            let body = RequestBody(keepsBytes: true, expectedSize: request.contentLength)
            self.state = .receivingBody(request, body, deadline: now + self.configuration.requestBodyTimeout)
            return .sendContinue
        case (.answer(let response, _), .admission):
            // The body may be on its way despite the refusal: only a close puts an end to it.
            return self.respond(response, keepAlive: false, now: now)
        case (.commit, .publish):
            self.state = .committing(request)
            return .commitPublish
        case (.openStream, .connect):
            self.state = .streaming
            self.inbox.removeAll()
            return .switchToStream
        case (.answer(let response, let keepAlive), _):
            return self.respond(response, keepAlive: keepAlive && request.keepAlive, now: now)
        case (.commit, .connect), (.openStream, .publish), (.readBody, _), (.commit, .admission),
            (.openStream, .admission):
            self.close()
            return .abandonPhase(answer: .text(.internalServerError, "the request could not be completed"))
        }
    }

    /// The answer to a committed publish.
    mutating func committed(_ response: HTTPResponse, now: NIODeadline) -> Action {
        guard case .committing(let request) = self.state else { return .none }
        self.becomeIdle(keepAlive: request.keepAlive, now: now)
        return .respondToCommit(response, keepAlive: request.keepAlive)
    }

    // MARK: Transitions

    private mutating func process(_ part: HTTPServerRequestPart, now: NIODeadline) -> Action {
        switch part {
        case .head(let head):
            guard case .awaitingHead = self.state else { break }
            self.state = .evaluating(head)
            return .evaluate(head)
        case .body(let chunk):
            return self.receivedBody(chunk)
        case .end:
            switch self.state {
            case .receivingBody(let request, let body, _):
                switch request.route {
                case .publish:
                    self.state = .awaitingPhase(request, .publish, deadline: now + self.configuration.middlewareTimeout)
                    return .runPublishPhase(request.head, body: body.bytes)
                case .subscribe:
                    self.state = .awaitingPhase(request, .connect, deadline: now + self.configuration.middlewareTimeout)
                    return .runConnectPhase(request.head)
                default:
                    self.becomeIdle(keepAlive: request.keepAlive, now: now)
                    return .serveOperational(request.head, request.route, keepAlive: request.keepAlive)
                }
            case .discardingBody(let response, let keepAlive, _, _):
                return self.respond(response, keepAlive: keepAlive, now: now)
            default:
                break
            }
        }
        // Parts out of order, which the decoder does not produce: nothing sensible can be answered.
        self.close()
        return .close
    }

    private mutating func receivedBody(_ chunk: ByteBuffer) -> Action {
        switch self.state {
        case .receivingBody(let request, var body, let deadline):
            // Let go of the state's copy first, so that appending does not copy the whole body.
            self.state = .modifying
            guard body.size + chunk.readableBytes <= self.configuration.maxBodyBytes else {
                self.close()
                return .respond(self.bodyTooLarge, keepAlive: false)
            }
            body.append(chunk)
            self.state = .receivingBody(request, body, deadline: deadline)
            return .none
        case .discardingBody(let response, let keepAlive, let discarded, let deadline):
            let total = discarded + chunk.readableBytes
            guard total <= self.configuration.maxBodyBytes else {
                // Not worth reading further: answer now and close.
                self.close()
                return .respond(response, keepAlive: false)
            }
            self.state = .discardingBody(response, keepAlive: keepAlive, discarded: total, deadline: deadline)
            return .none
        default:
            self.close()
            return .close
        }
    }

    private mutating func respond(_ response: HTTPResponse, keepAlive: Bool, now: NIODeadline) -> Action {
        self.becomeIdle(keepAlive: keepAlive, now: now)
        return .respond(response, keepAlive: keepAlive)
    }

    private mutating func becomeIdle(keepAlive: Bool, now: NIODeadline) {
        if keepAlive {
            self.state = .awaitingHead(.idle, deadline: now + self.configuration.keepAliveTimeout)
        } else {
            self.close()
        }
    }

    private mutating func close() {
        self.state = .closed
        self.inbox.removeAll()
    }

    private var bodyTooLarge: HTTPResponse {
        .text(.payloadTooLarge, "request body exceeds \(self.configuration.maxBodyBytes) bytes")
    }
}
