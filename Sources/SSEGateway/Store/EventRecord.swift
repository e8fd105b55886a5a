/// One published update as a store keeps it: everything a replay needs to send it again.
public struct EventRecord: Sendable, Equatable {
    /// The event id (`urn:uuid:` UUIDv7 unless the publisher chose one); unique among the retained events.
    public var id: String
    public var topics: [String]
    public var data: String
    public var type: String?
    public var retry: UInt64?
    public var isPrivate: Bool

    public init(
        id: String,
        topics: [String],
        data: String,
        type: String? = nil,
        retry: UInt64? = nil,
        isPrivate: Bool = false
    ) {
        self.id = id
        self.topics = topics
        self.data = data
        self.type = type
        self.retry = retry
        self.isPrivate = isPrivate
    }

    /// The record of `request` under `id`.
    public init(_ request: PublishRequest, id: String) {
        self.init(
            id: id, topics: request.topics, data: request.data, type: request.type, retry: request.retry,
            isPrivate: request.isPrivate)
    }

    /// Whether a publish of `other` under the same id repeats this one: same topics, data, type and privacy, byte
    /// for byte. A publisher that lost an answer and retries gets `200`; any other reuse of an id gets `409`.
    public func hasSameContent(as other: EventRecord) -> Bool {
        UTF8Key.sameBytes(self.topics, other.topics) && UTF8Key.sameBytes(self.data, other.data)
            && UTF8Key.sameBytes(self.type, other.type) && self.isPrivate == other.isPrivate
    }

    /// Equal byte for byte, as ids and topics compare everywhere in the hub.
    public static func == (lhs: EventRecord, rhs: EventRecord) -> Bool {
        UTF8Key.sameBytes(lhs.id, rhs.id) && lhs.hasSameContent(as: rhs) && lhs.retry == rhs.retry
    }

    /// What the record weighs against `hub.history.maxBytes`: the bytes of its id, data, type and topics.
    public var size: Int {
        self.id.utf8.count + self.data.utf8.count + (self.type?.utf8.count ?? 0)
            + self.topics.reduce(0) { $0 + $1.utf8.count }
    }
}
