import NIOCore
import NIOHTTP1

/// The life of one HTTP/1.1 connection, request by request, as a value that returns what to do next.
///
/// The channel handler feeds it request parts and timer expiries and performs the returned action; all limits and
/// keep-alive decisions live here so that they can be tested without a channel.
struct HTTPRequestStateMachine {
    struct Limits {
        var maxBodyBytes: Int
    }

    /// A complete, small response.
    struct Response: Equatable {
        var status: HTTPResponseStatus
        var headers: [(String, String)] = []
        var body: String

        static func == (lhs: Response, rhs: Response) -> Bool {
            lhs.status == rhs.status && lhs.body == rhs.body
                && lhs.headers.map { "\($0.0):\($0.1)" } == rhs.headers.map { "\($0.0):\($0.1)" }
        }
    }

    enum Action: Equatable {
        case none
        /// Send the response; close the connection after it when `close` is set.
        case respond(Response, close: Bool)
        /// A complete request to handle.
        case handle(HTTPRequestHead, Route, body: ByteBuffer?)
        /// Close without a response.
        case close
    }

    private enum State {
        /// Waiting for a request head; `first` is true before the first request of the connection.
        case idle(first: Bool)
        case receiving(HTTPRequestHead, Route, body: ByteBuffer?)
        /// The request is refused already; its body is read and dropped, then `response` is sent.
        case discarding(Response, keepAlive: Bool)
        case handling(keepAlive: Bool)
        case streaming
        case closed
    }

    private var state: State = .idle(first: true)
    private let limits: Limits

    init(limits: Limits) {
        self.limits = limits
    }

    var isStreaming: Bool {
        if case .streaming = self.state { return true }
        return false
    }

    /// `rejection` is an answer decided from the head alone (capacity, method, path checks).
    ///
    /// A rejected request is normally answered after its body has been read and dropped, keeping the connection;
    /// when the client waits for `100 Continue` before sending its body, it is answered at once and closed.
    mutating func receivedHead(
        _ head: HTTPRequestHead,
        route: Route,
        rejection: Response?,
        expectsContinue: Bool = false
    ) -> Action {
        guard case .idle = self.state else {
            // Pipelined request while one is in progress: not supported on this server.
            self.state = .closed
            return .close
        }
        if let rejection {
            if expectsContinue || rejection.status == .payloadTooLarge || rejection.status == .serviceUnavailable {
                self.state = .closed
                return .respond(rejection, close: true)
            }
            self.state = .discarding(rejection, keepAlive: head.isKeepAlive)
            return .none
        }
        self.state = .receiving(head, route, body: nil)
        return .none
    }

    mutating func receivedBody(_ chunk: ByteBuffer) -> Action {
        switch self.state {
        case .receiving(let head, let route, var body):
            guard route.readsBody else { return .none }
            let size = (body?.readableBytes ?? 0) + chunk.readableBytes
            if size > self.limits.maxBodyBytes {
                self.state = .closed
                return .respond(
                    Response(
                        status: .payloadTooLarge,
                        body: "request body exceeds \(self.limits.maxBodyBytes) bytes"
                    ),
                    close: true
                )
            }
            var chunk = chunk
            if body == nil {
                body = chunk
            } else {
                body!.writeBuffer(&chunk)
            }
            self.state = .receiving(head, route, body: body)
            return .none
        default:
            return .none
        }
    }

    mutating func receivedEnd() -> Action {
        switch self.state {
        case .receiving(let head, let route, let body):
            self.state = .handling(keepAlive: head.isKeepAlive)
            return .handle(head, route, body: body)
        case .discarding(let response, let keepAlive):
            self.state = .handling(keepAlive: keepAlive)
            return .respond(response, close: false)
        default:
            return .none
        }
    }

    /// A response was written; returns whether the connection stays open for another request.
    mutating func responseSent(keepAlive: Bool) -> Bool {
        guard case .handling(let requestKeepAlive) = self.state else { return false }
        if keepAlive && requestKeepAlive {
            self.state = .idle(first: false)
            return true
        }
        self.state = .closed
        return false
    }

    mutating func startedStreaming() {
        self.state = .streaming
    }

    /// The timer for the current phase fired: a slow request head gets 408, an idle keep-alive connection closes.
    mutating func timerFired() -> Action {
        switch self.state {
        case .idle(first: true):
            self.state = .closed
            return .respond(
                Response(status: .requestTimeout, body: "request headers not received in time"), close: true)
        case .idle(first: false):
            self.state = .closed
            return .close
        default:
            return .none
        }
    }

    /// A protocol error from the decoder: header overflow becomes 431, anything else 400; the connection closes.
    mutating func decodingFailed(_ error: any Error) -> Action {
        switch self.state {
        case .closed, .streaming, .handling:
            self.state = .closed
            return .close
        default:
            self.state = .closed
            if let parserError = error as? HTTPParserError, parserError == .headerOverflow {
                return .respond(
                    Response(status: .requestHeaderFieldsTooLarge, body: "request headers too large"),
                    close: true
                )
            }
            return .respond(Response(status: .badRequest, body: "malformed HTTP request"), close: true)
        }
    }
}
