import NIOCore

/// What a ``StreamHandler`` writes its stream with. Usable from any task.
///
/// Each send goes through the route's filters (compression, heartbeat bookkeeping) and is flushed. While the client
/// is not reading and the socket's buffer is full, a send waits rather than buffering without bound; once the
/// session has closed, it throws ``StreamClosedError``.
public final class StreamWriter: Sendable {
    /// The session this writer streams to.
    public let session: Session
    private let stream: NIOLoopBound<SessionStream>

    init(stream: SessionStream) {
        self.session = stream.session
        self.stream = NIOLoopBound(stream, eventLoop: stream.eventLoop)
    }

    /// Sends an event; returns once the stream has taken it.
    public func send(_ event: ServerSentEvent) async throws {
        var buffer = ByteBufferAllocator().buffer(capacity: event.encodedSize)
        event.encode(into: &buffer)
        try await self.write(buffer, kind: .event)
    }

    /// Sends a comment line (`: text`), which clients ignore.
    public func sendComment(_ text: String) async throws {
        var buffer = ByteBufferAllocator().buffer(capacity: text.utf8.count + 4)
        SSEComment.encode(text, into: &buffer)
        try await self.write(buffer, kind: .comment)
    }

    /// Passes on a block read from another event stream, fields unchanged: an event when it has `data`, else the
    /// `id` and `retry` it sets (which update the client without dispatching anything).
    func forward(_ message: SSEParser.Message) async throws {
        if let data = message.data {
            try await self.send(ServerSentEvent(id: message.id, type: message.type, retry: message.retry, data: data))
            return
        }
        var buffer = ByteBufferAllocator().buffer(capacity: 64)
        if let retry = message.retry { buffer.writeString("retry: \(retry)\n") }
        if let id = message.id { buffer.writeString("id: \(id)\n") }
        guard buffer.readableBytes > 0 else { return }
        buffer.writeString("\n")
        try await self.write(buffer, kind: .comment)
    }

    private func write(_ message: ByteBuffer, kind: StreamMessageKind) async throws {
        try Task.checkCancellation()
        let stream = self.stream
        let reason = self.session.closeReason
        try await stream.eventLoop.flatSubmit { () -> EventLoopFuture<Void> in
            guard let handler = stream.value.handler else {
                return stream.eventLoop.makeFailedFuture(StreamClosedError(reason: reason))
            }
            return handler.sendWhenWritable(message, kind: kind)
        }.get()
    }
}

/// Thrown by ``StreamWriter`` once its session has closed: the client is gone, or the gateway ended the stream.
public struct StreamClosedError: Error, Sendable, CustomStringConvertible {
    /// Why the session closed, when known.
    public var reason: CloseReason?

    public var description: String { "the stream is closed (\(self.reason?.name ?? "closing"))" }
}
