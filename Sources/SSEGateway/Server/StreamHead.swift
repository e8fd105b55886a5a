import NIOCore
import NIOHTTP1

/// The response head of an event stream, as MERCURE.md lists it, plus the headers the chain added; written by the
/// stream itself once it knows whether its reply carries `Last-Event-ID`.
struct StreamHead {
    static let headers: [(String, String)] = [
        ("Content-Type", "text/event-stream"),
        ("Cache-Control", "private, no-cache, no-store, must-revalidate, max-age=0"),
        ("Pragma", "no-cache"),
        ("Expire", "0"),
        ("Expires", "0"),
        ("X-Accel-Buffering", "no"),
    ]

    let framing: StreamFraming
    /// Headers the middleware added (CORS, …).
    let extra: HTTPHeaders

    /// The HTTP/1 head as raw bytes, through its blank line (the codec has left the pipeline).
    func bytes(lastEventID: String?, allocator: ByteBufferAllocator) -> ByteBuffer {
        var buffer = allocator.buffer(capacity: 320)
        buffer.writeStaticString("HTTP/1.1 200 OK\r\n")
        for (name, value) in Self.headers {
            Self.write(name, value, into: &buffer)
        }
        if self.framing == .chunked {
            buffer.writeStaticString("Connection: keep-alive\r\nTransfer-Encoding: chunked\r\n")
        } else {
            buffer.writeStaticString("Connection: close\r\n")
        }
        for (name, value) in self.extra {
            Self.write(name, value, into: &buffer)
        }
        if let lastEventID {
            Self.write("Last-Event-ID", lastEventID, into: &buffer)
        }
        buffer.writeStaticString("\r\n")
        return buffer
    }

    /// The head for an HTTP/2 stream, whose codec turns it into a HEADERS frame (no connection-level headers).
    func http2Head(lastEventID: String?) -> HTTPResponseHead {
        var headers = HTTPHeaders(Self.headers)
        headers.add(contentsOf: self.extra)
        if let lastEventID {
            headers.add(name: "Last-Event-ID", value: lastEventID)
        }
        return HTTPResponseHead(version: .http2, status: .ok, headers: headers)
    }

    private static func write(_ name: String, _ value: String, into buffer: inout ByteBuffer) {
        buffer.writeString(name)
        buffer.writeStaticString(": ")
        buffer.writeString(value)
        buffer.writeStaticString("\r\n")
    }
}
