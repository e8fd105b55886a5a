import NIOHTTP1

/// Decides from a request head alone whether the request is served, and what it gets when it is not.
///
/// Pure: the connection handler gathers the facts (capacity, shutdown, the peer's right to publish) and the route's
/// middleware answer, and this decides. The order is the order of cost and blame: refusals that protect the server
/// (capacity, sizes) come before anything runs, middleware sees only requests the server is willing to serve, and
/// routing errors come last. Body size is the connection state machine's, since only it sees the body.
struct AdmissionPolicy: Sendable {
    struct Limits: Equatable, Sendable {
        var maxRequestLineBytes: Int
        var maxHeaderBytes: Int
        var maxHeaderCount: Int
        /// Seconds sent in `Retry-After` with every refusal a client should retry.
        var retryAfterSeconds: Int
    }

    /// What is known of the connection when the head arrives.
    struct Connection: Equatable, Sendable {
        enum Capacity: Equatable, Sendable {
            case available
            /// Beyond `server.maxConnections`.
            case overServerLimit
            /// Beyond `server.maxConnectionsPerAddress` for the peer's address.
            case overAddressLimit
        }

        var capacity: Capacity
        /// The server is shutting down: hub requests are refused, and every connection closes after its answer.
        var isQuiescing: Bool
    }

    let limits: Limits

    /// - Parameters:
    ///   - routeHasMiddleware: whether the route's chain may authorise a publisher; without one, the anonymous rule
    ///     (`hub.publishAllowedFrom`) applies from the head.
    ///   - mayPublishAnonymously: whether the peer's address is in `hub.publishAllowedFrom`; asked only when needed.
    ///   - intercept: the route's middleware `intercept` phase; its answer (a CORS preflight) is sent instead.
    func verdict(
        for head: HTTPRequestHead,
        route: Route,
        connection: Connection,
        routeHasMiddleware: Bool,
        mayPublishAnonymously: () -> Bool,
        intercept: () -> HTTPResponse?
    ) -> HTTPConnectionStateMachine.Verdict {
        let retryAfter = [("Retry-After", String(self.limits.retryAfterSeconds))]
        switch connection.capacity {
        case .available:
            break
        case .overServerLimit:
            return .answer(
                .text(.serviceUnavailable, "too many open connections, retry later", headers: retryAfter), close: true)
        case .overAddressLimit:
            return .answer(
                .text(
                    .tooManyRequests, "too many open connections from your address, retry later", headers: retryAfter),
                close: true
            )
        }
        if let refusal = self.sizeRefusal(head) {
            return .answer(refusal, close: true)
        }
        if let answer = intercept() {
            return .answer(answer, close: false)
        }
        if connection.isQuiescing, route.isHub {
            return .answer(
                .text(.serviceUnavailable, "the gateway is shutting down, retry later", headers: retryAfter),
                close: true)
        }
        switch route {
        case .notFound:
            return .answer(.text(.notFound, "no such path: \(head.uri.prefix(200))"), close: false)
        case .methodNotAllowed(let allow, _):
            return .answer(
                .text(
                    .methodNotAllowed, "method \(head.method) is not allowed here; allowed: \(allow)",
                    headers: [("Allow", allow)]),
                close: false
            )
        case .publish:
            if !routeHasMiddleware, !mayPublishAnonymously() {
                return .answer(.text(.forbidden, "publishing is not allowed from this address"), close: false)
            }
            let contentType = head.headers.first(name: "content-type")?.lowercased() ?? ""
            guard contentType.hasPrefix("application/x-www-form-urlencoded") else {
                return .answer(
                    .text(.unsupportedMediaType, "publish with Content-Type: application/x-www-form-urlencoded"),
                    close: false
                )
            }
        case .subscribe, .health, .readiness, .metrics:
            break
        }
        return .serve(route, keepAlive: !connection.isQuiescing)
    }

    /// `414` for a long request target, `431` for too many or too large headers. The decoder already cut off
    /// heads far beyond these limits (see ``decoderLimits``); these are the exact, configured ones.
    private func sizeRefusal(_ head: HTTPRequestHead) -> HTTPResponse? {
        let uriBytes = head.uri.utf8.count
        if uriBytes > self.limits.maxRequestLineBytes {
            return .text(.uriTooLong, "request target of \(uriBytes) bytes exceeds \(self.limits.maxRequestLineBytes)")
        }
        if head.headers.count > self.limits.maxHeaderCount {
            return .text(
                .requestHeaderFieldsTooLarge,
                "\(head.headers.count) header fields exceed the limit of \(self.limits.maxHeaderCount)"
            )
        }
        var headerBytes = 0
        for (name, value) in head.headers {
            // As on the wire: "name: value\r\n".
            headerBytes += name.utf8.count + value.utf8.count + 4
        }
        if headerBytes > self.limits.maxHeaderBytes {
            return .text(
                .requestHeaderFieldsTooLarge,
                "header section of \(headerBytes) bytes exceeds \(self.limits.maxHeaderBytes)"
            )
        }
        return nil
    }

    /// Limits for NIO's decoder, which reads a head before this policy sees it. The decoder counts the request
    /// target as a field and within the whole head, so both of its limits are the sum of ours: a head within our
    /// limits always decodes, and one beyond the sum is cut off by the decoder with `431` before it is buffered. The
    /// field count is left to this policy, since the byte bound already caps what the decoder holds.
    var decoderLimits: NIOHTTPDecoderLimitConfiguration {
        var limits = NIOHTTPDecoderLimitConfiguration()
        let head = self.limits.maxRequestLineBytes + self.limits.maxHeaderBytes
        limits.maxHeaderFieldSize = head
        limits.maxHeaderListSize = head
        return limits
    }
}
