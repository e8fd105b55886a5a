import NIOCore

/// The response head of an event stream, as MERCURE.md lists it, written as raw bytes once the codec is gone.
enum StreamHead {
    static let headers: [(String, String)] = [
        ("Content-Type", "text/event-stream"),
        ("Cache-Control", "private, no-cache, no-store, must-revalidate, max-age=0"),
        ("Pragma", "no-cache"),
        ("Expire", "0"),
        ("Expires", "0"),
        ("X-Accel-Buffering", "no"),
    ]

    /// Everything up to (not including) the blank line, so that per-stream headers can still be appended.
    static func encode(chunked: Bool, allocator: ByteBufferAllocator) -> ByteBuffer {
        var buffer = allocator.buffer(capacity: 320)
        buffer.writeStaticString("HTTP/1.1 200 OK\r\n")
        for (name, value) in self.headers {
            buffer.writeString(name)
            buffer.writeStaticString(": ")
            buffer.writeString(value)
            buffer.writeStaticString("\r\n")
        }
        if chunked {
            buffer.writeStaticString("Connection: keep-alive\r\nTransfer-Encoding: chunked\r\n")
        } else {
            buffer.writeStaticString("Connection: close\r\n")
        }
        return buffer
    }
}
