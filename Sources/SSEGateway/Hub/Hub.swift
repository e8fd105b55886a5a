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
    private let metrics: GatewayMetrics
    private let allocator = ByteBufferAllocator()
    /// Orders publishes into the store and hands each committed batch to ``deliver(_:)``.
    let committer: EventCommitter

    /// - Parameter committer: commits events to the store before they are answered and fanned out.
    init(
        eventLoops: [any EventLoop],
        configuration: GatewayConfiguration.Hub,
        metrics: GatewayMetrics,
        committer: EventCommitter
    ) {
        let shards = eventLoops.enumerated().map { HubShard(eventLoop: $0.element, index: $0.offset, metrics: metrics) }
        self.shards = shards
        var byLoop: [ObjectIdentifier: HubShard] = [:]
        for shard in shards { byLoop[ObjectIdentifier(shard.eventLoop)] = shard }
        self.shardByLoop = byLoop
        self.replayUnknownID = configuration.history.replayUnknownID
        self.metrics = metrics
        self.state = NIOLockedValueBox(
            State(
                history: EventHistory(capacity: configuration.history.size, maxBytes: configuration.history.maxBytes),
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
    func commit(_ request: PublishRequest, on eventLoop: any EventLoop) -> EventLoopFuture<PublishOutcome> {
        let record = EventRecord(request, id: request.id ?? EventID.generate())
        return self.committer.submit(record, on: eventLoop).map { outcome in
            switch outcome {
            case .appended:
                return .published(record.id)
            case .exists(let stored) where stored.record.hasSameContent(as: record):
                return .repeated(record.id)
            case .exists:
                return .conflict(record.id)
            }
        }
    }

    /// Takes a committed batch into the replay history and every loop's inbox, in position order.
    func deliver(_ committed: [StoredEvent]) {
        let events = committed.map { stored -> HubEvent in
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

    private func drain(_ shard: HubShard) {
        let events = self.state.withLockedValue { state in
            let events = state.inboxes[shard.index]
            state.inboxes[shard.index] = []
            return events
        }
        shard.deliver(events)
    }

    /// Registers a stream for live delivery and returns what it must replay first; called on the stream's loop.
    ///
    /// The stream's `startSequence` is set under the same lock that orders publishes: events up to it come from
    /// the returned replay, later ones arrive live (their delivery is queued behind this call on the same loop).
    func attach(_ stream: SSEStreamHandler, lastEventID: String?) -> Attachment {
        let shard = self.shard(for: stream.eventLoop)
        let attachment: Attachment = self.state.withLockedValue { state in
            stream.startSequence = state.sequence
            guard let lastEventID else { return Attachment(replay: [], replyLastEventID: nil) }
            if UTF8Key.sameBytes(lastEventID, PublishRequest.reservedID) {
                return Attachment(replay: state.history.all(), replyLastEventID: "earliest")
            }
            if let events = state.history.events(after: lastEventID) {
                return Attachment(replay: events, replyLastEventID: lastEventID)
            }
            return Attachment(
                replay: self.replayUnknownID ? state.history.all() : [],
                replyLastEventID: "earliest"
            )
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

    /// Number of events currently retained for replay.
    public var historyCount: Int {
        self.state.withLockedValue { $0.history.count }
    }
}
