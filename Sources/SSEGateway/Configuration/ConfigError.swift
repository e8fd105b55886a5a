/// A configuration problem, located by the JSON path of the offending value so that an operator can find it in the
/// file without guessing.
///
/// Paths use dots for object keys and brackets for array indices, for example `hub.history.size`,
/// `server.publishAllowedFrom[2]` or `middleware[0].settings.level`. An empty path means the document as a whole.
public struct ConfigError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Where the problem is; empty for problems with the document as a whole.
    public var path: String
    /// What is wrong, phrased so that it can follow the path after a colon.
    public var message: String

    public init(path: String, message: String) {
        self.path = path
        self.message = message
    }

    public var description: String {
        path.isEmpty ? message : "\(path): \(message)"
    }
}
