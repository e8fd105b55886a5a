/// Why a configured key cannot be used, phrased to follow its JSON path.
public struct InvalidKeyError: Error, Sendable, Equatable, CustomStringConvertible {
    public var reason: String

    public init(_ reason: String) {
        self.reason = reason
    }

    public var description: String { self.reason }
}
