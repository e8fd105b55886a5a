import Logging
import NIOConcurrencyHelpers
import NIOCore

/// The Mercure hub: orders published updates, keeps the replay history, and fans each update out to the
/// subscribers of every event loop.
///
/// An update is committed to the ``EventStore`` before it is answered or delivered, in batches (see
/// ``EventCommitter``), and delivered in the store's order. It is encoded once; each event loop receives it with one `execute` and writes the same bytes to all its
/// matching streams. One short lock orders publishes, history and subscriptions, so replay and live delivery meet
/// without a gap or a duplicate even while publishes race a subscribe.
public final class Hub: Sendable {
    /// What a subscriber gets on attach: the events to replay, and the value of the `Last-Event-ID` reply header.
    struct Attachment {
        var replay: [HubEvent]
        var replyLastEventID: String?
    }

    private struct State {
        var sequence: UInt64 = 0
        var history: EventHistory
        var inboxes: [[HubEvent]]
    }

    let shards: [HubShard]
    private let shardByLoop: [ObjectIdentifier: HubShard]
    private let state: NIOLockedValueBox<State>
    private let replayUnknownID: Bool
    private let historySize: Int
    private let metrics: GatewayMetrics
    private let logger: Logger
    private let allocator = ByteBufferAllocator()
    /// Orders publishes into the store and hands each committed batch to ``deliver(_:)``.
    let committer: EventCommitter
    /// Reads a shared store's events, every gateway's, for fan-out; nil for a store of this gateway alone.
    private let follower = NIOLockedValueBox<StoreFollower?>(nil)

    /// - Parameters:
    ///   - committer: commits events to the store before they are answered and fanned out.
    ///   - writeDelay: `streams.writeDelay`; zero flushes every batch at once.
    init(
        eventLoops: [any EventLoop],
        configuration: GatewayConfiguration.Hub,
        metrics: GatewayMetrics,
        committer: EventCommitter,
        writeDelay: Duration = .zero,
        logger: Logger = Logger(label: "sse-gateway")
    ) {
        let delay = writeDelay == .zero ? nil : TimeAmount(writeDelay)
        let shards = eventLoops.enumerated().map {
            HubShard(eventLoop: $0.element, index: $0.offset, metrics: metrics, writeDelay: delay)
        }
        self.shards = shards
        var byLoop: [ObjectIdentifier: HubShard] = [:]
        for shard in shards { byLoop[ObjectIdentifier(shard.eventLoop)] = shard }
        self.shardByLoop = byLoop
        self.replayUnknownID = configuration.history.replayUnknownID
        self.historySize = configuration.history.size
        self.metrics = metrics
        self.logger = logger
        self.state = NIOLockedValueBox(
            State(
                history: EventHistory(
                    capacity: min(configuration.history.size, configuration.history.cacheSize),
                    maxBytes: configuration.history.maxBytes),
                inboxes: Array(repeating: [], count: shards.count))
        )
        self.committer = committer
        committer.deliverCommits { [weak self] events in self?.deliver(events) }
    }

    func shard(for eventLoop: any EventLoop) -> HubShard {
        guard let shard = self.shardByLoop[ObjectIdentifier(eventLoop)] else {
            preconditionFailure("event loop \(eventLoop) is not one of the hub's")
        }
        return shard
    }

    /// Publishes an update once the store has committed it, and returns its id (the given one, or a generated
    /// `urn:uuid:` UUIDv7).
    ///
    /// - Throws: ``PublishError`` (409) when the id is retained with other content; ``EventStoreError`` or the
    ///   store's own error when it could not commit.
    @discardableResult
    public func publish(_ request: PublishRequest) async throws -> String {
        let outcome = try await self.commit(request, on: self.shards[0].eventLoop).get()
        switch outcome {
        case .published(let id), .repeated(let id):
            return id
        case .conflict(let id):
            throw PublishError(status: 409, reason: PublishOutcome.conflictReason(id))
        }
    }

    /// Commits an update to the store; once it is committed it is fanned out, and then the future completes on
    /// `eventLoop`. A publish that repeats a retained event (same id and content) is answered without a second copy.
    ///
    /// With a `ticket` (taken when the request arrived), it is committed after the publishes that arrived before it.
    func commit(
        _ request: PublishRequest,
        on eventLoop: any EventLoop,
        ticket: PublishTicket? = nil
    ) -> EventLoopFuture<PublishOutcome> {
        let promise = eventLoop.makePromise(of: PublishOutcome.self)
        self.commit(request, on: eventLoop, ticket: ticket, completion: promise.completeWith)
        return promise.futureResult
    }

    /// ``commit(_:on:ticket:)`` for the publish path: `completion` is called once, on `eventLoop`, with no future
    /// in between.
    func commit(
        _ request: PublishRequest,
        on eventLoop: any EventLoop,
        ticket: PublishTicket?,
        completion: @escaping @Sendable (Result<PublishOutcome, any Error>) -> Void
    ) {
        let record = EventRecord(request, id: request.id ?? EventID.generate())
        self.committer.submit(record, on: eventLoop, ticket: ticket) { result in
            completion(
                result.map { outcome in
                    switch outcome {
                    case .appended:
                        return .published(record.id)
                    case .exists(let stored) where stored.record.hasSameContent(as: record):
                        return .repeated(record.id)
                    case .exists:
                        return .conflict(record.id)
                    }
                })
        }
    }

    /// Takes a committed batch into the replay history and every loop's inbox, in position order.
    func deliver(_ committed: [StoredEvent]) {
        let events = committed.map(self.encode)
        let wake: [HubShard] = self.state.withLockedValue { state in
            for event in events {
                state.sequence = event.sequence
                state.history.append(event)
            }
            var wake: [HubShard] = []
            for shard in self.shards {
                if state.inboxes[shard.index].isEmpty { wake.append(shard) }
                state.inboxes[shard.index].append(contentsOf: events)
            }
            return wake
        }
        self.metrics.eventsPublished.increment(by: Int64(events.count))
        for shard in wake {
            shard.eventLoop.execute { self.drain(shard) }
        }
    }

    /// The event as streams write it: encoded once, for every stream and every replay.
    private func encode(_ stored: StoredEvent) -> HubEvent {
        let record = stored.record
        let event = ServerSentEvent(id: record.id, type: record.type, retry: record.retry, data: record.data)
        let chunk = ChunkedFrame.frameEvent(event, allocator: self.allocator)
        return HubEvent(
            sequence: stored.position,
            id: record.id,
            topics: record.topics,
            isPrivate: record.isPrivate,
            chunk: chunk,
            payload: ChunkedFrame.payload(of: chunk)
        )
    }

    /// Fans out what a shared store holds after the newest event loaded, every gateway's, in the store's order;
    /// this gateway's own commits only wake the reader, so that they are delivered in that order too.
    func follow(_ store: any EventStore, on eventLoop: any EventLoop) {
        let interval = store.pollInterval.components
        let follower = StoreFollower(
            store: store,
            cursor: self.lastSequence,
            eventLoop: eventLoop,
            pollInterval: .nanoseconds(interval.seconds * 1_000_000_000 + interval.attoseconds / 1_000_000_000),
            logger: self.logger
        ) { events in self.deliver(events) }
        self.follower.withLockedValue { $0 = follower }
        self.committer.deliverCommits { _ in follower.wake() }
        follower.start()
    }

    /// Stops reading a shared store: the first step of closing it.
    func stopFollowing() async {
        await self.follower.withLockedValue { $0 }?.stop()
    }

    /// Why the store cannot commit or be read, while it cannot: `/readyz` answers 503 with it.
    var storeFailure: String? {
        self.committer.failure ?? self.follower.withLockedValue { $0 }?.failure
    }

    /// Fills the memory from what `store` kept (after a restart, its newest events), before anything is published.
    func load(from store: any EventStore, on eventLoop: any EventLoop) async throws {
        let limit = self.state.withLockedValue { $0.history.capacity }
        let newest = limit > 0 ? try await store.newest(limit: limit, on: eventLoop).get() : []
        let events = newest.map(self.encode)
        self.state.withLockedValue { state in
            state.history.fill(events, complete: events.count < limit)
            if let last = events.last { state.sequence = max(state.sequence, last.sequence) }
        }
    }

    private func drain(_ shard: HubShard) {
        let events = self.state.withLockedValue { state in
            let events = state.inboxes[shard.index]
            state.inboxes[shard.index] = []
            return events
        }
        shard.deliver(events)
    }

    /// Works out what a stream resuming from `lastEventID` replays, reading the store when the cursor is older than
    /// the memory (or `earliest` asks for more than it holds). The future completes on `eventLoop`; nil without a
    /// cursor.
    ///
    /// From here until ``attach(_:replay:)`` (or `abandoned`, whichever comes first) the memory keeps every event
    /// after the part read from the store, so the two parts meet without a gap however many events are published
    /// meanwhile.
    func prepareReplay(
        from lastEventID: String?,
        abandoned: EventLoopFuture<Void>,
        on eventLoop: any EventLoop
    ) -> EventLoopFuture<ReplayPlan?> {
        guard let lastEventID else { return eventLoop.makeSucceededFuture(nil) }
        let earliest = UTF8Key.sameBytes(lastEventID, PublishRequest.reservedID)
        let replayUnknownID = self.replayUnknownID
        enum Start {
            case memory(ReplayPlan)
            case store(through: UInt64, pin: UInt64)
        }
        let start: Start = self.state.withLockedValue { state in
            func fromMemory(after position: UInt64, reply: String) -> Start {
                .memory(
                    ReplayPlan(
                        stored: [], memoryAfter: position, pin: state.history.pin(after: position),
                        replyLastEventID: reply))
            }
            if !earliest, let position = state.history.position(of: lastEventID) {
                return fromMemory(after: position, reply: lastEventID)
            }
            guard !state.history.isComplete else {
                // Not in memory, and memory holds all the store does: `earliest`, or an id no longer retained.
                return fromMemory(after: earliest || replayUnknownID ? 0 : state.sequence, reply: "earliest")
            }
            let through = state.sequence
            return .store(through: through, pin: state.history.pin(after: through))
        }
        let (through, pin): (UInt64, UInt64)
        switch start {
        case .memory(let plan):
            abandoned.whenComplete { _ in self.unpin(plan.pin) }
            return eventLoop.makeSucceededFuture(plan)
        case .store(let position, let handle):
            (through, pin) = (position, handle)
            abandoned.whenComplete { _ in self.unpin(handle) }
        }
        let store = self.committer.store
        let cursor: EventLoopFuture<UInt64?> =
            earliest
            ? eventLoop.makeSucceededFuture(0)
            : (store?.event(withID: lastEventID, on: eventLoop).map { $0?.position }
                ?? eventLoop.makeSucceededFuture(nil))
        return cursor.flatMap { position -> EventLoopFuture<ReplayPlan?> in
            let reply = earliest || position == nil ? "earliest" : lastEventID
            guard let after = position ?? (replayUnknownID ? 0 : nil), let store else {
                return eventLoop.makeSucceededFuture(
                    ReplayPlan(stored: [], memoryAfter: through, pin: pin, replyLastEventID: reply))
            }
            // From the start: the newest `hub.history.size`, since a store deletes in batches once a little beyond.
            let read =
                after == 0
                ? store.newest(limit: self.historySize, on: eventLoop).map { $0.filter { $0.position <= through } }
                : Self.read(store, after: after, through: through, on: eventLoop)
            return read.map { stored in
                ReplayPlan(
                    stored: stored.map(self.encode), memoryAfter: max(after, through), pin: pin,
                    replyLastEventID: reply)
            }
        }.flatMapError { error in
            // The stream still opens, with what memory holds, and says that its cursor was not found.
            self.logger.warning(
                "replay from the event store failed; replaying what memory holds",
                metadata: ["error": "\(error)"])
            return eventLoop.makeSucceededFuture(
                ReplayPlan(stored: [], memoryAfter: 0, pin: pin, replyLastEventID: "earliest"))
        }
    }

    /// Events after `position` up to `through`, read in pages: the store's part of a replay.
    private static func read(
        _ store: any EventStore,
        after position: UInt64,
        through: UInt64,
        on eventLoop: any EventLoop,
        into read: [StoredEvent] = []
    ) -> EventLoopFuture<[StoredEvent]> {
        let page = 1000
        guard position < through else { return eventLoop.makeSucceededFuture(read) }
        return store.events(after: position, limit: page, on: eventLoop).flatMap { events in
            let kept = events.prefix { $0.position <= through }
            let all = read + kept
            guard events.count == page, kept.count == page, let last = kept.last else {
                return eventLoop.makeSucceededFuture(all)
            }
            return Self.read(store, after: last.position, through: through, on: eventLoop, into: all)
        }
    }

    private func unpin(_ pin: UInt64) {
        self.state.withLockedValue { $0.history.unpin(pin) }
    }

    /// Registers a stream for live delivery and returns what it must replay first; called on the stream's loop.
    ///
    /// The stream's live start is set under the same lock that orders publishes: events up to it come from the
    /// returned replay, later ones arrive live (their delivery is queued behind this call on the same loop).
    func attach(_ stream: SSEStreamHandler, replay plan: ReplayPlan?) -> Attachment {
        let shard = self.shard(for: stream.eventLoop)
        let attachment: Attachment = self.state.withLockedValue { state in
            stream.startLive(after: state.sequence)
            guard let plan else { return Attachment(replay: [], replyLastEventID: nil) }
            let memory = state.history.events(afterPosition: plan.memoryAfter)
            state.history.unpin(plan.pin)
            return Attachment(replay: plan.stored + memory, replyLastEventID: plan.replyLastEventID)
        }
        shard.register(stream)
        return attachment
    }

    func detach(_ stream: SSEStreamHandler) {
        self.shard(for: stream.eventLoop).unregister(stream)
    }

    /// The position of the last event delivered.
    var lastSequence: UInt64 {
        self.state.withLockedValue { $0.sequence }
    }

    /// Number of events the hub holds in memory for replay.
    public var historyCount: Int {
        self.state.withLockedValue { $0.history.count }
    }
}
