public import NIOCore

/// A stream's own view of its outgoing bytes, created by ``Middleware/makeStreamFilter(for:)``.
///
/// Every call happens on the stream's event loop, synchronously, on the delivery hot path: do no blocking work and
/// no allocation that the transformation does not need. Filters that only observe (``transformsBytes`` false) cost
/// the stream nothing per byte: it keeps writing the event's shared, pre-framed buffer.
public protocol StreamFilter: AnyObject {
    /// Whether ``transform(_:allocator:)`` changes bytes. Default false.
    var transformsBytes: Bool { get }

    /// Transforms one message (an encoded event or comment, before chunked framing). Filters run innermost first:
    /// the one listed last in the chain sees the hub's bytes, the first one's output goes to the socket.
    func transform(_ message: ByteBuffer, allocator: ByteBufferAllocator) -> ByteBuffer

    /// Bytes to send after the last message when the gateway ends the stream (a compression trailer). Default none.
    func finish(allocator: ByteBufferAllocator) -> ByteBuffer?

    /// Called after each message is written (live and replayed events, messages sent through ``SessionStream``), with
    /// what it was, so that an observer can tell events from comments. A live event the stream takes in a batch or a
    /// `streams.writeDelay` window is reported when taken; its bytes reach the socket with the window's one write,
    /// at most the delay later. It runs once per delivery: a timer that only needs the time of the last write reads
    /// ``SessionStream/lastWriteTime`` or ``SessionStream/lastEventTime`` when it fires instead, as the heartbeat and
    /// timeout middleware do.
    func didWrite(_ kind: StreamMessageKind)

    /// Called when the socket stops or starts taking bytes (the peer stopped reading, or resumed).
    func writabilityChanged(isWritable: Bool)
}

extension StreamFilter {
    public var transformsBytes: Bool { false }

    public func transform(_ message: ByteBuffer, allocator: ByteBufferAllocator) -> ByteBuffer { message }

    public func finish(allocator: ByteBufferAllocator) -> ByteBuffer? { nil }

    public func didWrite(_ kind: StreamMessageKind) {}

    public func writabilityChanged(isWritable: Bool) {}
}
