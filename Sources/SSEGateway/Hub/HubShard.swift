import NIOCore

/// The subscribers of one event loop, touched only on that loop.
///
/// The hub hands each shard a batch of events with one `execute`; the shard matches and writes them synchronously
/// (no task, no lock, no per-subscriber allocation) and writes each stream once per batch: a stream that gets several
/// events in one batch takes them in one buffer (``WriteWindow``) and one system call.
final class HubShard: @unchecked Sendable {
    // @unchecked: every mutable member is read and written on `eventLoop` only (asserted in debug builds).
    let eventLoop: any EventLoop
    let index: Int
    private let metrics: GatewayMetrics
    /// Streams by exact topic; keyed on UTF-8 bytes because an index hit skips the selector check, so a `String`
    /// key would deliver to subscribers of every canonically equivalent spelling.
    private var exact: [UTF8Key: StreamList] = [:]
    private var inexact = StreamList()
    private var window = WriteWindow()
    /// `streams.writeDelay`: the window of taken events is written by a timer of the loop, at most once per delay,
    /// so a stream that gets several events within it takes them in one write; nil writes each batch at its end.
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
        self.window.dropRun(of: stream)
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
        // One clock read for the batch: what streams record as their write time.
        let now = self.eventLoop.now
        var delivered = 0
        defer {
            if delivered > 0 {
                self.metrics.eventsDelivered.increment(by: delivered)
                if self.writeDelay == nil {
                    self.metrics.fanOutDuration.recordNanoseconds((self.eventLoop.now - now).nanoseconds)
                }
            }
        }
        // One event and no write delay: write and flush in one pass.
        if events.count == 1, self.writeDelay == nil {
            let event = events[0]
            for topic in event.topics {
                guard let bucket = self.exact[UTF8Key(topic)] else { continue }
                for stream in bucket.streams where stream.offer(event, matched: true, flush: true, at: now) {
                    delivered += 1
                }
            }
            for stream in self.inexact.streams where stream.offer(event, matched: false, flush: true, at: now) {
                delivered += 1
            }
            return
        }
        // Several events, or a write delay: streams take them into the window, which writes each stream's run of
        // events as one shared buffer and flushes each stream once, at the end of the batch or when the delay's
        // timer fires.
        for event in events {
            var position: Int32 = -1
            for topic in event.topics {
                guard let bucket = self.exact[UTF8Key(topic)] else { continue }
                for stream in bucket.streams
                where self.take(event, at: &position, by: stream, matched: true, now: now) {
                    delivered += 1
                }
            }
            for stream in self.inexact.streams
            where self.take(event, at: &position, by: stream, matched: false, now: now) {
                delivered += 1
            }
        }
        guard let writeDelay = self.writeDelay else {
            self.flushWindow()
            return
        }
        guard !self.flushScheduled, !self.window.isEmpty else { return }
        self.flushScheduled = true
        let shard = NIOLoopBound(self, eventLoop: self.eventLoop)
        self.eventLoop.scheduleTask(in: writeDelay) {
            shard.value.flushScheduled = false
            shard.value.flushWindow()
        }
    }

    /// Offers `event` to `stream` in a window; `position` is the event's place in the window, added on first need.
    @inline(__always)
    private func take(
        _ event: HubEvent,
        at position: inout Int32,
        by stream: SSEStreamHandler,
        matched: Bool,
        now: NIODeadline
    ) -> Bool {
        switch stream.take(event, matched: matched, at: now) {
        case .skipped:
            return false
        case .direct:
            // Its run first: the stream may have stopped taking bytes while an earlier run was written.
            self.writeRun(of: stream)
            self.window.touch(stream)
            return stream.write(event, at: now)
        case .deferred:
            if position < 0 { position = self.window.add(event) }
            if let earlier = self.window.extendRun(of: stream, to: position) {
                stream.writeRun(earlier, flush: false)
            }
            return true
        }
    }

    /// Writes the events `stream` took in the current window and has not written, ahead of a write of its own.
    func writeRun(of stream: SSEStreamHandler) {
        self.eventLoop.assertInEventLoop()
        if let bytes = self.window.takeRun(of: stream) {
            stream.writeRun(bytes, flush: false)
        }
    }

    private func flushWindow() {
        let start = self.eventLoop.now
        defer {
            if self.writeDelay != nil {
                self.metrics.fanOutDuration.recordNanoseconds((self.eventLoop.now - start).nanoseconds)
            }
        }
        var slot = 0
        while slot < self.window.count {
            let (stream, run) = self.window.closeSlot(slot)
            slot += 1
            if let run {
                stream.writeRun(run, flush: true)
            } else {
                stream.flushIfNeeded()
            }
        }
        self.window.reset()
    }
}
