import NIOCore
import NIOHTTP1
import NIOHTTP2
import NIOSSL

#if canImport(Glibc)
    import Glibc
#endif

/// Carries one open event stream once its response head is out: the HTTP codec is gone from the pipeline and this
/// handler writes pre-framed event bytes straight to the socket.
///
/// It notices a departed client at once (`channelInactive`, even on an idle stream), bounds the bytes it holds for a
/// slow reader, and closes its ``Session`` for every way a stream can end.
final class SSEStreamHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    let session: Session
    let selectors: [TopicSelector]

    private let hub: Hub
    private let maxBufferedBytes: Int
    private let claims: SubscriberClaims?
    /// Written when the stream attaches, then dropped.
    private var head: StreamHead?
    /// Every filter of the stream, outermost first; they all hear of writes and writability.
    private var filters: [any StreamFilter] = []
    private var sessionStream: SessionStream?
    /// The filters that change bytes, innermost first, the order bytes pass through them.
    private var transformers: [any StreamFilter] = []
    private var context: ChannelHandlerContext?
    /// The last event written, or the last one that predates the stream (replayed or older): later ones only are
    /// taken live.
    private var lastSequence: UInt64 = 0
    private var pending: [ByteBuffer] = []
    private var pendingBytes = 0
    /// What the stream replays when it attaches, worked out in the connect phase.
    private let replay: ReplayPlan?
    /// The Swift handler that writes this stream, for a stream route; nil for the hub.
    private let source: StreamHandlerRun?
    /// When the stream last wrote a message, and an event (or opened): the loop's clock as the hub read it once for
    /// the batch, so that timers (heartbeat, idle timeout) compare against it when they fire instead of reading the
    /// clock on every write.
    private(set) var lastWriteTime = NIODeadline.uptimeNanoseconds(0)
    private(set) var lastEventTime = NIODeadline.uptimeNanoseconds(0)
    /// This stream's place in its shard's list of streams written in the current batch or write window; -1 when
    /// it has none. Kept by ``HubShard``, stored here so that finding it costs no lookup per delivery.
    var windowSlot: Int32 = -1
    // The one-byte fields together: a class lays its fields out in order, padding each to the next one's alignment.
    let framing: StreamFraming
    private var needsFlush = false
    private var attached = false
    /// Mirrors `channel.isWritable`, kept from writability events so the hot path reads a stored flag.
    private var writable = true
    /// Set while this handler is inside a flush: NIO closes a channel whose socket write fails without an error
    /// event, so an inactivation that arrives during our own flush is how a failed write shows.
    private var flushing = false
    /// Sends of a stream handler waiting for the socket to take bytes again, oldest first.
    private var waitingSends: [(message: ByteBuffer, kind: StreamMessageKind, promise: EventLoopPromise<Void>)] = []

    init(
        session: Session,
        hub: Hub,
        head: StreamHead,
        maxBufferedBytes: Int,
        replay: ReplayPlan? = nil,
        source: StreamHandlerRun? = nil
    ) {
        self.replay = replay
        self.source = source
        self.session = session
        self.selectors = session.topics
        self.hub = hub
        self.head = head
        self.framing = head.framing
        self.maxBufferedBytes = maxBufferedBytes
        self.claims = session.claims
    }

    /// Installs the stream's filters (outermost first); before the handler is added to the pipeline.
    func setFilters(_ filters: [any StreamFilter]) {
        self.filters = filters
        self.transformers = filters.reversed().filter(\.transformsBytes)
    }

    /// Links the middleware's view of this stream to it until the handler leaves the pipeline.
    func link(_ stream: SessionStream) {
        stream.handler = self
        self.sessionStream = stream
    }

    /// Breaks the link of ``link(_:)``, so that neither keeps the other alive.
    func unlink() {
        self.sessionStream?.handler = nil
        self.sessionStream = nil
    }

    /// The stream's loop, the session's: not stored, as every stream would carry it.
    var eventLoop: any EventLoop { self.session.eventLoop }

    var isWritable: Bool { self.writable && self.context != nil }

    var isOpen: Bool { self.context != nil && !self.session.isClosed }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        guard context.channel.isActive else {
            self.session.close(reason: .clientDisconnected)
            return
        }
        let attachment: Hub.Attachment
        if self.source == nil {
            attachment = self.hub.attach(self, replay: self.replay)
            self.attached = true
        } else {
            attachment = Hub.Attachment(replay: [], replyLastEventID: nil)
        }
        if let head = self.head {
            self.head = nil
            if self.framing == .http2 {
                let head = head.http2Head(lastEventID: attachment.replyLastEventID)
                context.write(NIOAny(HTTPServerResponsePart.head(head)), promise: nil)
            } else {
                let bytes = head.bytes(lastEventID: attachment.replyLastEventID, allocator: context.channel.allocator)
                context.write(self.wrapOutboundOut(bytes), promise: nil)
            }
        }
        var opening = context.channel.allocator.buffer(capacity: 16)
        if !self.transformers.isEmpty {
            opening.writeStaticString(":\n")
            opening = self.framed(self.transformed(opening))
        } else if self.framing == .chunked {
            opening.writeStaticString("2\r\n:\n\r\n")
        } else {
            opening.writeStaticString(":\n")
        }
        context.write(self.wrap(opening), promise: nil)
        let now = self.eventLoop.now
        self.lastWriteTime = now
        self.lastEventTime = now
        for event in attachment.replay where self.accepts(event, matched: false) {
            context.write(self.wrap(self.bytes(of: event)), promise: nil)
            self.lastEventTime = now
            self.notifyWrite(.event)
        }
        context.flush()
        let loopBound = NIOLoopBound(self, eventLoop: context.eventLoop)
        self.session.setTeardown { _ in
            loopBound.value.teardown()
        }
        if let source, let sessionStream {
            source.start(writer: StreamWriter(stream: sessionStream))
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.source?.cancel()
        self.failWaitingSends()
        self.detach()
        self.unlink()
        self.context = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        // A stream has nothing more to read; whatever a client sends now is dropped.
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        // The connection allows half-closure so that requests are answered after a FIN; a stream's reader sends
        // one only when it leaves.
        if let event = event as? ChannelEvent, event == .inputClosed {
            self.session.close(reason: .clientDisconnected)
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.detach()
        self.session.close(reason: self.flushing ? .writeFailed : .clientDisconnected)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        let reason: CloseReason
        if let ioError = error as? IOError, ioError.errnoCode == ECONNRESET {
            reason = .clientDisconnected
        } else if error is NIOHTTP2Errors.StreamClosed {
            // An HTTP/2 client reset the stream (a closed `EventSource`): this stream alone has gone.
            reason = .clientDisconnected
        } else if let tlsError = error as? NIOSSLError, tlsError == .uncleanShutdown {
            // Over TLS, a client that leaves without a close_notify (a closed tab, a killed process).
            reason = .clientDisconnected
        } else if let ioError = error as? IOError, ioError.errnoCode == ETIMEDOUT {
            // The kernel gave up on unacknowledged data (TCP_USER_TIMEOUT or keepalive): the peer is gone.
            reason = .deadPeer
        } else {
            reason = .writeFailed
        }
        self.session.close(reason: reason)
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        self.writable = context.channel.isWritable
        for filter in self.filters { filter.writabilityChanged(isWritable: self.writable) }
        if self.writable, !self.pending.isEmpty {
            var coalesced = context.channel.allocator.buffer(capacity: self.pendingBytes)
            for var buffer in self.pending { coalesced.writeBuffer(&buffer) }
            self.pending.removeAll()
            self.pendingBytes = 0
            self.flushing = true
            context.writeAndFlush(self.wrap(coalesced), promise: nil)
            self.flushing = false
        }
        self.resumeWaitingSends()
        context.fireChannelWritabilityChanged()
    }

    // MARK: Delivery (hot path, on the event loop)

    /// Whether this stream takes `event`; `matched` says a topic index already matched one of its selectors.
    private func accepts(_ event: HubEvent, matched: Bool) -> Bool {
        if !matched {
            var any = false
            outer: for selector in self.selectors {
                for topic in event.topics where selector.matches(topic) {
                    any = true
                    break outer
                }
            }
            if !any { return false }
        }
        if event.isPrivate {
            guard let claims = self.claims, claims.allowsPrivate(topics: event.topics) else { return false }
        }
        return true
    }

    /// The bytes this stream writes for `event`: the shared buffer itself unless a filter transforms bytes.
    private func bytes(of event: HubEvent) -> ByteBuffer {
        if self.transformers.isEmpty {
            return self.framing == .chunked ? event.chunk : event.payload
        }
        return self.framed(self.transformed(event.payload))
    }

    private func transformed(_ message: ByteBuffer) -> ByteBuffer {
        var message = message
        let allocator = self.context?.channel.allocator ?? ByteBufferAllocator()
        for filter in self.transformers {
            message = filter.transform(message, allocator: allocator)
        }
        return message
    }

    private func framed(_ payload: ByteBuffer) -> ByteBuffer {
        guard self.framing == .chunked else { return payload }
        return ChunkedFrame.frame(payload, allocator: self.context?.channel.allocator ?? ByteBufferAllocator())
    }

    /// `bytes` as this stream's pipeline takes them: raw for HTTP/1 (the codec is gone), a body part for the HTTP/2
    /// stream codec, which makes it one DATA frame without copying it.
    @inline(__always)
    private func wrap(_ bytes: ByteBuffer) -> NIOAny {
        if self.framing == .http2 {
            return NIOAny(HTTPServerResponsePart.body(.byteBuffer(bytes)))
        }
        return self.wrapOutboundOut(bytes)
    }

    @inline(__always)
    private func notifyWrite(_ kind: StreamMessageKind) {
        for filter in self.filters { filter.didWrite(kind) }
    }

    /// Sends `event` to this client only, as ``SessionStream/send(_:)`` does.
    func sendMessageEvent(_ event: ServerSentEvent) -> Bool {
        var buffer = ByteBufferAllocator().buffer(capacity: event.encodedSize)
        event.encode(into: &buffer)
        return self.sendMessage(buffer, kind: .event)
    }

    /// Writes a message that does not come from the hub (``SessionStream``), through the filters, and flushes it.
    func sendMessage(_ message: ByteBuffer, kind: StreamMessageKind) -> Bool {
        guard self.context != nil, !self.session.isClosed else { return false }
        self.writeDeferredEvents()
        let bytes = self.framed(self.transformed(message))
        guard bytes.readableBytes > 0 else { return true }
        return self.write(bytes, kind: kind, flush: true, at: self.eventLoop.now)
    }

    /// Writes a stream handler's message once the socket takes bytes: at once while it does, else when it drains,
    /// in order. The future fails once the session has closed.
    func sendWhenWritable(_ message: ByteBuffer, kind: StreamMessageKind) -> EventLoopFuture<Void> {
        let eventLoop = self.session.eventLoop
        guard self.context != nil, !self.session.isClosed else {
            return eventLoop.makeFailedFuture(StreamClosedError(reason: self.session.closeReason))
        }
        if self.writable, self.waitingSends.isEmpty {
            guard self.sendMessage(message, kind: kind) else {
                return eventLoop.makeFailedFuture(StreamClosedError(reason: self.session.closeReason))
            }
            return eventLoop.makeSucceededVoidFuture()
        }
        let promise = eventLoop.makePromise(of: Void.self)
        self.waitingSends.append((message, kind, promise))
        return promise.futureResult
    }

    private func resumeWaitingSends() {
        while self.writable, !self.waitingSends.isEmpty {
            let (message, kind, promise) = self.waitingSends.removeFirst()
            if self.sendMessage(message, kind: kind) {
                promise.succeed()
            } else {
                promise.fail(StreamClosedError(reason: self.session.closeReason))
            }
        }
    }

    private func failWaitingSends() {
        let waiting = self.waitingSends
        self.waitingSends.removeAll()
        for send in waiting { send.promise.fail(StreamClosedError(reason: self.session.closeReason)) }
    }

    /// Events up to `sequence` predate the stream (its replay has them, or it asked for none): set under the lock
    /// that orders publishes, so that live delivery starts right after them.
    func startLive(after sequence: UInt64) {
        self.lastSequence = max(self.lastSequence, sequence)
    }

    /// Writes `event` unless it was already sent or replayed; returns whether it was taken. Without `flush`, the
    /// caller flushes later through ``flushIfNeeded()``.
    func offer(_ event: HubEvent, matched: Bool, flush: Bool, at now: NIODeadline) -> Bool {
        guard event.sequence > self.lastSequence, self.context != nil, self.accepts(event, matched: matched) else {
            return false
        }
        self.lastSequence = event.sequence
        return self.write(self.bytes(of: event), kind: .event, flush: flush, at: now)
    }

    /// What ``take(_:matched:at:)`` did with an event.
    enum Taken {
        /// Not for this stream, already sent, or the stream has gone.
        case skipped
        /// Taken, for the shard to write in this stream's run of events of the window, in one buffer it shares with
        /// every stream that took the same run (``writeRun(_:flush:)``).
        case deferred
        /// Taken, to be written on its own with ``write(_:at:)`` once the shard has written the stream's run: the
        /// stream transforms bytes or is waiting for its reader.
        case direct
    }

    /// ``offer(_:matched:flush:at:)`` for a batch or a write window: a stream that sends the hub's bytes as they are
    /// and whose socket takes them leaves the write to the shard, so that a run of events costs one pipeline write.
    func take(_ event: HubEvent, matched: Bool, at now: NIODeadline) -> Taken {
        guard event.sequence > self.lastSequence, self.context != nil, self.accepts(event, matched: matched) else {
            return .skipped
        }
        self.lastSequence = event.sequence
        guard self.transformers.isEmpty, self.writable, self.pending.isEmpty else { return .direct }
        self.lastWriteTime = now
        self.lastEventTime = now
        if !self.filters.isEmpty { self.notifyWrite(.event) }
        return .deferred
    }

    /// Writes an event ``take(_:matched:at:)`` left to write on its own; returns whether the stream took it.
    func write(_ event: HubEvent, at now: NIODeadline) -> Bool {
        self.write(self.bytes(of: event), kind: .event, flush: false, at: now)
    }

    /// Writes the events this stream took with ``take(_:matched:at:)``, framed for it and concatenated by the shard,
    /// and ends its place in the window when `flush` is set.
    func writeRun(_ bytes: ByteBuffer, flush: Bool) {
        if flush { self.windowSlot = -1 }
        guard self.context != nil else { return }
        self.enqueue(bytes, flush: flush)
    }

    /// Hands the shard the events this stream took and has not written yet, so that whatever it writes next comes
    /// after them.
    private func writeDeferredEvents() {
        if self.windowSlot >= 0 {
            self.hub.shard(for: self.eventLoop).writeRun(of: self)
        }
    }

    @inline(__always)
    private func write(_ bytes: ByteBuffer, kind: StreamMessageKind, flush: Bool, at now: NIODeadline) -> Bool {
        guard self.enqueue(bytes, flush: flush) else { return false }
        self.lastWriteTime = now
        if kind == .event { self.lastEventTime = now }
        if !self.filters.isEmpty { self.notifyWrite(kind) }
        return true
    }

    /// Hands `bytes` to the socket while it takes them, else holds them up to `maxBufferedBytes` and closes the
    /// session beyond that.
    @inline(__always)
    @discardableResult
    private func enqueue(_ bytes: ByteBuffer, flush: Bool) -> Bool {
        guard let context = self.context else { return false }
        if self.writable, self.pending.isEmpty {
            if flush {
                self.needsFlush = false
                self.flushing = true
                context.writeAndFlush(self.wrap(bytes), promise: nil)
                self.flushing = false
            } else {
                context.write(self.wrap(bytes), promise: nil)
                self.needsFlush = true
            }
        } else {
            self.pending.append(bytes)
            self.pendingBytes += bytes.readableBytes
            if self.pendingBytes > self.maxBufferedBytes {
                self.pending.removeAll()
                self.pendingBytes = 0
                self.session.close(reason: .slowConsumer)
                return false
            }
        }
        return true
    }

    /// Flushes what the stream wrote in the batch or window, and ends its place in it.
    func flushIfNeeded() {
        self.windowSlot = -1
        if self.needsFlush {
            self.needsFlush = false
            self.flushing = true
            self.context?.flush()
            self.flushing = false
        }
    }

    // MARK: Teardown

    private func detach() {
        if self.attached {
            self.attached = false
            self.hub.detach(self)
        }
    }

    private func teardown() {
        self.source?.cancel()
        // Events taken in the current window go out before the stream ends.
        self.writeDeferredEvents()
        self.detach()
        self.pending.removeAll()
        self.failWaitingSends()
        guard let context = self.context, context.channel.isActive else { return }
        if self.writable {
            // End the body properly (compression trailer, last chunk) so clients and proxies see a complete
            // response, not a cut one.
            for (index, filter) in self.transformers.enumerated() {
                guard var tail = filter.finish(allocator: context.channel.allocator) else { continue }
                for outer in self.transformers[(index + 1)...] {
                    tail = outer.transform(tail, allocator: context.channel.allocator)
                }
                let bytes = self.framed(tail)
                if bytes.readableBytes > 0 { context.write(self.wrap(bytes), promise: nil) }
            }
            switch self.framing {
            case .chunked:
                context.write(self.wrapOutboundOut(ChunkedFrame.terminator), promise: nil)
            case .http2:
                // END_STREAM ends this stream alone; the connection and its other streams go on.
                let channel = context.channel
                context.writeAndFlush(NIOAny(HTTPServerResponsePart.end(nil))).whenComplete { _ in
                    channel.close(promise: nil)
                }
                return
            case .closeDelimited:
                break
            }
            context.flush()
        }
        context.close(promise: nil)
    }
}
