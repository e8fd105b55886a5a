public import NIOCore

/// The open body of one session's event stream, as its middleware sees it: for sending messages outside the hub
/// (heartbeats, a last `retry:` before closing) and for reading whether the client keeps up.
///
/// It lives on ``Session/eventLoop``: use it only there (keep it in a `NIOLoopBound` for timers). Once the stream has
/// ended, sends are ignored.
public final class SessionStream {
    /// The session this stream carries.
    public let session: Session
    /// Allocator of the stream's channel, for filters that build buffers.
    public let allocator: ByteBufferAllocator

    /// Strong, and cleared by the handler when it leaves the pipeline: a `weak` reference would give every stream
    /// handler a side table, which makes each retain on the fan-out path take the slow path.
    var handler: SSEStreamHandler?
    let channel: any Channel

    init(session: Session, channel: any Channel) {
        self.session = session
        self.channel = channel
        self.allocator = channel.allocator
    }

    /// The loop the stream lives on.
    public var eventLoop: any EventLoop { self.session.eventLoop }

    /// Whether the socket currently takes bytes; false while the peer is not reading (or gone without a FIN).
    public var isWritable: Bool {
        self.eventLoop.preconditionInEventLoop()
        return self.handler?.isWritable ?? false
    }

    /// Whether the stream still carries bytes.
    public var isOpen: Bool {
        self.eventLoop.preconditionInEventLoop()
        return self.handler?.isOpen ?? false
    }

    /// When the stream last wrote a message (an event or a comment), on the loop's clock; `.distantPast` once it has
    /// ended. A timer that needs the time of the last write (a heartbeat) reads it when it fires: the stream records
    /// it once per batch of deliveries, which costs less than observing every write.
    public var lastWriteTime: NIODeadline {
        self.eventLoop.preconditionInEventLoop()
        return self.handler?.lastWriteTime ?? .distantPast
    }

    /// When the stream last wrote an event (live, replayed or sent through ``send(_:)``), on the loop's clock; the
    /// time the stream opened before its first one, and `.distantPast` once it has ended.
    public var lastEventTime: NIODeadline {
        self.eventLoop.preconditionInEventLoop()
        return self.handler?.lastEventTime ?? .distantPast
    }

    /// Sets a socket option on the stream's connection (TCP keepalive, `TCP_USER_TIMEOUT`), so that a middleware
    /// can make the kernel notice a dead peer. Works from ``Middleware/makeStreamFilter(for:)`` on; fails once the
    /// connection is closed.
    public func setSocketOption(
        _ option: ChannelOptions.Types.SocketOption,
        value: SocketOptionValue
    ) -> EventLoopFuture<Void> {
        self.channel.setOption(option, value: value)
    }

    /// Sends an event to this client only, through the stream's filters, and flushes it. It bypasses the hub: it
    /// is neither kept for replay nor counted as published. Returns false when the stream has ended.
    @discardableResult
    public func send(_ event: ServerSentEvent) -> Bool {
        self.eventLoop.preconditionInEventLoop()
        var buffer = self.allocator.buffer(capacity: event.encodedSize)
        event.encode(into: &buffer)
        return self.handler?.sendMessage(buffer, kind: .event) ?? false
    }

    /// Sets the client's reconnection delay (`retry: N` alone) without dispatching anything: a message with no
    /// `data` line changes `EventSource`'s reconnection time and fires no event, and leaves `Last-Event-ID` as it
    /// was. Returns false when the stream has ended.
    @discardableResult
    public func sendRetry(milliseconds: UInt64) -> Bool {
        self.eventLoop.preconditionInEventLoop()
        var buffer = self.allocator.buffer(capacity: 32)
        buffer.writeString("retry: \(milliseconds)\n\n")
        return self.handler?.sendMessage(buffer, kind: .comment) ?? false
    }

    /// Sends a comment line (`: text`), which clients ignore but which keeps intermediaries and the client's
    /// connection alive. Returns false when the stream has ended.
    @discardableResult
    public func sendComment(_ text: String) -> Bool {
        self.eventLoop.preconditionInEventLoop()
        var buffer = self.allocator.buffer(capacity: text.utf8.count + 4)
        SSEComment.encode(text, into: &buffer)
        return self.handler?.sendMessage(buffer, kind: .comment) ?? false
    }
}
