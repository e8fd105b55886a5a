/// What a subscriber is authorised to see, as carried by a Mercure JWT (`mercure.subscribe`, `mercure.payload`).
///
/// The hub reads it for the private-update rule: a private update reaches a session only when one of the update's
/// topics matches one of `subscribe`. A session without claims (anonymous) receives public updates only.
public struct SubscriberClaims: Sendable, Equatable {
    /// Selectors from `mercure.subscribe`.
    public var subscribe: [TopicSelector]
    /// `mercure.payload`, kept for middleware and the subscriptions API.
    public var payload: JSONValue?

    public init(subscribe: [TopicSelector], payload: JSONValue? = nil) {
        self.subscribe = subscribe
        self.payload = payload
    }

    /// Whether a private update with these topics may be delivered.
    public func allowsPrivate(topics: [String]) -> Bool {
        for selector in self.subscribe {
            for topic in topics where selector.matches(topic) {
                return true
            }
        }
        return false
    }
}
