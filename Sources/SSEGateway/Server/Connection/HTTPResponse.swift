import NIOHTTP1

/// A complete, small answer to one request, as the connection state machine and the endpoints decide it.
///
/// Event streams are not `HTTPResponse`s: their head is written by the stream itself once the codec is gone.
struct HTTPResponse: Equatable, Sendable {
    var status: HTTPResponseStatus
    var headers: [(String, String)] = []
    var body: String
    /// False for an answer that has no body and no `Content-Length` (the head of a stream, to a `HEAD` request).
    var hasContentLength = true

    init(status: HTTPResponseStatus, headers: [(String, String)] = [], body: String, hasContentLength: Bool = true) {
        self.status = status
        self.headers = headers
        self.body = body
        self.hasContentLength = hasContentLength
    }

    /// A plain-text answer whose body is `reason` and a line end, which is what every refusal looks like.
    static func text(_ status: HTTPResponseStatus, _ reason: String, headers: [(String, String)] = []) -> HTTPResponse {
        HTTPResponse(status: status, headers: headers, body: reason + "\n")
    }

    /// `503` with `Retry-After`, for refusals that a client should retry later.
    static func retryLater(_ reason: String, after seconds: Int) -> HTTPResponse {
        .text(.serviceUnavailable, reason, headers: [("Retry-After", String(seconds))])
    }

    static func == (lhs: HTTPResponse, rhs: HTTPResponse) -> Bool {
        lhs.status == rhs.status && lhs.body == rhs.body && lhs.hasContentLength == rhs.hasContentLength
            && lhs.headers.map { "\($0.0):\($0.1)" } == rhs.headers.map { "\($0.0):\($0.1)" }
    }
}
