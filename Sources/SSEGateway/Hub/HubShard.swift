import NIOCore

/// The subscribers of one event loop, touched only on that loop.
///
/// The hub hands each shard a batch of events with one `execute`; the shard matches and writes them synchronously
/// (no task, no lock, no per-subscriber allocation) and flushes each stream once per batch, so a stream that gets
/// several events in one batch takes them in one system call.
final class HubShard: @unchecked Sendable {
    // @unchecked: every mutable member is read and written on `eventLoop` only (asserted in debug builds).
    let eventLoop: any EventLoop
    let index: Int
    private let metrics: GatewayMetrics
    /// Streams by exact topic; keyed on UTF-8 bytes because an index hit skips the selector check, so a `String`
    /// key would deliver to subscribers of every canonically equivalent spelling.
    private var exact: [UTF8Key: StreamList] = [:]
    private var inexact = StreamList()
    private var touched: [SSEStreamHandler] = []
    /// `streams.writeDelay`: events are written at once but flushed by a timer of the loop, at most once per
    /// delay, so a stream that gets several events within it takes them in one system call; nil flushes each batch.
    private let writeDelay: TimeAmount?
    private var flushScheduled = false
    private(set) var sessions: [ObjectIdentifier: Session] = [:]
    private var noSessionWaiters: [EventLoopPromise<Void>] = []

    init(eventLoop: any EventLoop, index: Int, metrics: GatewayMetrics, writeDelay: TimeAmount? = nil) {
        self.eventLoop = eventLoop
        self.index = index
        self.metrics = metrics
        self.writeDelay = writeDelay
    }

    func track(_ session: Session) {
        self.eventLoop.assertInEventLoop()
        self.sessions[ObjectIdentifier(session)] = session
    }

    func untrack(_ session: Session) {
        self.eventLoop.assertInEventLoop()
        self.sessions[ObjectIdentifier(session)] = nil
        if self.sessions.isEmpty, !self.noSessionWaiters.isEmpty {
            let waiters = self.noSessionWaiters
            self.noSessionWaiters = []
            for waiter in waiters { waiter.succeed() }
        }
    }

    /// Succeeds once this loop has no open session (at once when it has none), so shutdown's drain resumes when the
    /// last client leaves instead of polling.
    func whenNoSessions() -> EventLoopFuture<Void> {
        self.eventLoop.assertInEventLoop()
        guard !self.sessions.isEmpty else { return self.eventLoop.makeSucceededVoidFuture() }
        let waiter = self.eventLoop.makePromise(of: Void.self)
        self.noSessionWaiters.append(waiter)
        return waiter.futureResult
    }

    /// Fails the pending ``whenNoSessions()`` futures, for a drain that gave up waiting.
    func cancelNoSessionWaiters() {
        self.eventLoop.assertInEventLoop()
        let waiters = self.noSessionWaiters
        self.noSessionWaiters = []
        for waiter in waiters { waiter.fail(CancellationError()) }
    }

    func register(_ stream: SSEStreamHandler) {
        self.eventLoop.assertInEventLoop()
        for selector in stream.selectors {
            if selector.isExact {
                self.exact[UTF8Key(selector.raw), default: StreamList()].insert(stream)
            } else {
                self.inexact.insert(stream)
            }
        }
    }

    func unregister(_ stream: SSEStreamHandler) {
        self.eventLoop.assertInEventLoop()
        for selector in stream.selectors {
            if selector.isExact {
                let key = UTF8Key(selector.raw)
                if var bucket = self.exact.removeValue(forKey: key) {
                    bucket.remove(stream)
                    if !bucket.isEmpty { self.exact[key] = bucket }
                }
            } else {
                self.inexact.remove(stream)
            }
        }
    }

    /// Calls `body` once for each stream of this loop.
    func forEachStream(_ body: (SSEStreamHandler) -> Void) {
        self.eventLoop.assertInEventLoop()
        var seen: Set<ObjectIdentifier> = []
        for stream in self.inexact.streams where seen.insert(ObjectIdentifier(stream)).inserted { body(stream) }
        for bucket in self.exact.values {
            for stream in bucket.streams where seen.insert(ObjectIdentifier(stream)).inserted { body(stream) }
        }
    }

    /// Entries held for live delivery: one per exact topic of each stream, plus one for each stream with a template
    /// or `*` selector. Zero once every stream has gone.
    var registrationCount: Int {
        self.eventLoop.assertInEventLoop()
        return self.exact.values.reduce(self.inexact.count) { $0 + $1.count }
    }

    func deliver(_ events: [HubEvent]) {
        self.eventLoop.assertInEventLoop()
        // One event: write and flush in one pass. Several: write all, then flush each stream once, so a stream
        // that takes several events in this batch takes them in one system call. With a write delay, the flush
        // waits for the loop's timer, which takes every batch of the delay.
        let flushEach = events.count == 1 && self.writeDelay == nil
        var delivered = 0
        // One clock read for the batch: what streams record as their write time.
        let now = self.eventLoop.now
        for event in events {
            for topic in event.topics {
                guard let bucket = self.exact[UTF8Key(topic)] else { continue }
                for stream in bucket.streams where stream.offer(event, matched: true, flush: flushEach, at: now) {
                    delivered += 1
                    if !flushEach, stream.markTouched() { self.touched.append(stream) }
                }
            }
            for stream in self.inexact.streams where stream.offer(event, matched: false, flush: flushEach, at: now) {
                delivered += 1
                if !flushEach, stream.markTouched() { self.touched.append(stream) }
            }
        }
        if delivered > 0 {
            self.metrics.eventsDelivered.increment(by: delivered)
        }
        guard let writeDelay = self.writeDelay else {
            self.flushTouched()
            return
        }
        guard !self.flushScheduled, !self.touched.isEmpty else { return }
        self.flushScheduled = true
        let shard = NIOLoopBound(self, eventLoop: self.eventLoop)
        self.eventLoop.scheduleTask(in: writeDelay) {
            shard.value.flushScheduled = false
            shard.value.flushTouched()
        }
    }

    private func flushTouched() {
        for stream in self.touched {
            stream.flushIfNeeded()
        }
        self.touched.removeAll(keepingCapacity: true)
    }
}
