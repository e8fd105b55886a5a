import NIOHTTP1

/// How an event stream's bytes travel on its connection, from the request's protocol version.
enum StreamFraming: Sendable {
    /// HTTP/1.1: each write is one pre-framed chunk, and a last chunk ends the body.
    case chunked
    /// HTTP/1.0: raw bytes, and closing the connection ends the body.
    case closeDelimited
    /// HTTP/2: each write is one DATA frame of the stream, and an empty one with END_STREAM ends it.
    case http2

    init(version: HTTPVersion) {
        if version.major >= 2 {
            self = .http2
        } else if version.major == 1 && version.minor >= 1 {
            self = .chunked
        } else {
            self = .closeDelimited
        }
    }
}
