import NIOConcurrencyHelpers
import NIOCore

/// The Mercure hub: orders published updates, keeps the replay history, and fans each update out to the
/// subscribers of every event loop.
///
/// An update is encoded once; each event loop receives it with one `execute` and writes the same bytes to all its
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

    init(eventLoops: [any EventLoop], configuration: GatewayConfiguration.Hub, metrics: GatewayMetrics) {
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
    }

    func shard(for eventLoop: any EventLoop) -> HubShard {
        guard let shard = self.shardByLoop[ObjectIdentifier(eventLoop)] else {
            preconditionFailure("event loop \(eventLoop) is not one of the hub's")
        }
        return shard
    }

    /// Publishes an update and returns its id (the given one, or a generated `urn:uuid:` UUIDv7).
    @discardableResult
    public func publish(_ request: PublishRequest) -> String {
        let id = request.id ?? EventID.generate()
        let event = ServerSentEvent(id: id, type: request.type, retry: request.retry, data: request.data)
        let chunk = ChunkedFrame.frameEvent(event, allocator: self.allocator)
        let payload = ChunkedFrame.payload(of: chunk)
        let wake: [HubShard] = self.state.withLockedValue { state in
            state.sequence += 1
            let hubEvent = HubEvent(
                sequence: state.sequence,
                id: id,
                topics: request.topics,
                isPrivate: request.isPrivate,
                chunk: chunk,
                payload: payload
            )
            state.history.append(hubEvent)
            var wake: [HubShard] = []
            for shard in self.shards {
                if state.inboxes[shard.index].isEmpty { wake.append(shard) }
                state.inboxes[shard.index].append(hubEvent)
            }
            return wake
        }
        self.metrics.eventsPublished.increment()
        for shard in wake {
            shard.eventLoop.execute { self.drain(shard) }
        }
        return id
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

    /// Number of events currently retained for replay.
    public var historyCount: Int {
        self.state.withLockedValue { $0.history.count }
    }
}
