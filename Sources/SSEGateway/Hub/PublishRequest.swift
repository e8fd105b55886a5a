/// Why a publish form was refused, ready to become the HTTP response.
public struct PublishError: Error, Sendable, Equatable {
    /// The HTTP status code to answer with.
    public var status: Int
    /// A one-line explanation for the response body.
    public var reason: String

    /// Creates an error; the hub's own checks produce 400, 403 and 409 (an id retained with other content).
    public init(status: Int, reason: String) {
        self.status = status
        self.reason = reason
    }
}

/// A validated Mercure publish form: everything the hub needs to build an update, checked before authorization
/// and dispatch so malformed input never reaches subscribers.
///
/// Repeated `data`, `id`, `type` and `retry` fields resolve to the first occurrence, as Go's `PostForm.Get` does in
/// the reference hub.
public struct PublishRequest: Sendable, Equatable {
    /// At least one topic; the first is canonical, the rest are alternates that also route the update.
    public var topics: [String]
    /// The payload; an absent field publishes an empty one.
    public var data: String
    /// Private updates go only to subscribers whose token grants one of the topics.
    public var isPrivate: Bool
    /// The publisher's id, or `nil` so the hub generates one.
    public var id: String?
    /// The SSE event type, or `nil` for the default.
    public var type: String?
    /// The reconnection delay to suggest, or `nil` (also for `0`) to suggest none.
    public var retry: UInt64?

    /// The most `topic` fields one update may carry.
    public static let maxTopics = 1000
    /// The path prefix of the hub itself; topics under it would let publishers forge hub-generated events.
    static let reservedTopicPart = "/.well-known/mercure"
    /// The replay keyword that asks for the whole history, so it cannot name an event.
    static let reservedID = "earliest"

    /// Creates a request directly, for callers that already hold validated values.
    public init(
        topics: [String],
        data: String = "",
        isPrivate: Bool = false,
        id: String? = nil,
        type: String? = nil,
        retry: UInt64? = nil
    ) {
        self.topics = topics
        self.data = data
        self.isPrivate = isPrivate
        self.id = id
        self.type = type
        self.retry = retry
    }

    /// Validates decoded form pairs, throwing the status and reason the hub should answer with.
    public init(form: [(name: String, value: String)]) throws(PublishError) {
        var topics: [String] = []
        var data: String?
        var isPrivate = false
        var id: String?
        var type: String?
        var retry: String?
        for (name, value) in form {
            switch name {
            case "topic":
                topics.append(value)
            case "data":
                data = data ?? value
            case "private":
                isPrivate = true
            case "id":
                id = id ?? value
            case "type":
                type = type ?? value
            case "retry":
                retry = retry ?? value
            default:
                break
            }
        }

        guard !topics.isEmpty else {
            throw PublishError(status: 400, reason: #"Missing "topic" parameter"#)
        }
        guard topics.count <= Self.maxTopics else {
            throw PublishError(status: 400, reason: #"Too many "topic" parameters (max 1000)"#)
        }
        // Byte-wise, as Mercure checks: `String.contains` compares characters, so a combining mark after the
        // reserved part (`…/mercure\u{301}`) would hide it.
        for topic in topics where UTF8Key.bytes(of: topic, contain: Self.reservedTopicPart) {
            throw PublishError(status: 403, reason: "Topic is reserved")
        }
        if let value = id, Self.hasLineBreakOrNUL(value) || UTF8Key.sameBytes(value, Self.reservedID) {
            throw PublishError(status: 400, reason: #"Invalid "id" parameter"#)
        }
        if let value = type, Self.hasLineBreakOrNUL(value) {
            throw PublishError(status: 400, reason: #"Invalid "type" parameter"#)
        }
        var retryValue: UInt64?
        if let value = retry, !value.isEmpty {
            guard let parsed = Self.parseDecimal(value) else {
                throw PublishError(status: 400, reason: #"Invalid "retry" parameter"#)
            }
            retryValue = parsed == 0 ? nil : parsed
        }

        self.topics = topics
        self.data = data ?? ""
        self.isPrivate = isPrivate
        self.id = id?.isEmpty == false ? id : nil
        self.type = type?.isEmpty == false ? type : nil
        self.retry = retryValue
    }

    /// Field by field on UTF-8 bytes, as the hub routes and frames them: Swift's `String` equality would call
    /// updates to differently normalised topics equal.
    public static func == (lhs: PublishRequest, rhs: PublishRequest) -> Bool {
        UTF8Key.sameBytes(lhs.topics, rhs.topics) && UTF8Key.sameBytes(lhs.data, rhs.data)
            && lhs.isPrivate == rhs.isPrivate && UTF8Key.sameBytes(lhs.id, rhs.id)
            && UTF8Key.sameBytes(lhs.type, rhs.type) && lhs.retry == rhs.retry
    }

    private static func hasLineBreakOrNUL(_ value: String) -> Bool {
        value.utf8.contains { $0 == UInt8(ascii: "\r") || $0 == UInt8(ascii: "\n") || $0 == 0 }
    }

    /// Digits only: no sign, no spaces, no overflow.
    private static func parseDecimal(_ text: String) -> UInt64? {
        var result: UInt64 = 0
        for byte in text.utf8 {
            guard byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") else {
                return nil
            }
            let (shifted, overflow1) = result.multipliedReportingOverflow(by: 10)
            let (sum, overflow2) = shifted.addingReportingOverflow(UInt64(byte - UInt8(ascii: "0")))
            guard !overflow1 && !overflow2 else {
                return nil
            }
            result = sum
        }
        return result
    }
}
