/// A store that cannot do what it was asked: the publish gets `503` with the reason, and is not answered `200`.
public struct EventStoreError: Error, Sendable, CustomStringConvertible {
    public var reason: String

    public init(_ reason: String) {
        self.reason = reason
    }

    public var description: String { self.reason }
}
