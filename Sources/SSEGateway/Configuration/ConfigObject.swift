import NIOConcurrencyHelpers

/// A JSON object being read, which remembers every key the reader asked for so that ``finish()`` can reject the
/// rest: a misspelled key then fails loudly instead of silently leaving a default in place.
///
/// Copies share the record of asked-for keys, so an object can be passed around while it is being read.
public struct ConfigObject: Sendable {
    /// Where this object sits in the document; empty for the root.
    public let path: String
    /// The raw members.
    public let members: [String: JSONValue]
    private let knownKeys: NIOLockedValueBox<Set<String>>

    public init(path: String, members: [String: JSONValue]) {
        self.path = path
        self.members = members
        self.knownKeys = NIOLockedValueBox([])
    }

    /// The keys present in the object, sorted.
    public var keys: [String] {
        members.keys.sorted()
    }

    /// The member `key`, or nil when it is absent; either way `key` counts as known.
    public func node(_ key: String) -> ConfigNode? {
        declare(key)
        return members[key].map { ConfigNode(path: ConfigNode.childPath(path, key: key), value: $0) }
    }

    /// Reads the member `key` with `read`, or returns `defaultValue` when the key is absent.
    ///
    /// An explicit `null` is passed to `read`, which rejects it, because a null usually means an unfinished edit
    /// rather than a request for the default.
    public func decode<T>(
        _ key: String,
        default defaultValue: T,
        _ read: (ConfigNode) throws(ConfigError) -> T
    ) throws(ConfigError) -> T {
        guard let node = node(key) else { return defaultValue }
        return try read(node)
    }

    /// Reads the member `key` with `read`, or returns nil when the key is absent.
    public func decodeIfPresent<T>(
        _ key: String,
        _ read: (ConfigNode) throws(ConfigError) -> T
    ) throws(ConfigError) -> T? {
        guard let node = node(key) else { return nil }
        return try read(node)
    }

    /// Reads the member `key` with `read`, failing when the key is absent.
    public func require<T>(_ key: String, _ read: (ConfigNode) throws(ConfigError) -> T) throws(ConfigError) -> T {
        guard let node = node(key) else {
            throw ConfigError(path: ConfigNode.childPath(path, key: key), message: "required key is missing")
        }
        return try read(node)
    }

    /// Marks keys as known without reading them, for keys that are reserved or handled elsewhere.
    public func declare(_ keys: String...) {
        knownKeys.withLockedValue { $0.formUnion(keys) }
    }

    /// Fails at the first key, in sorted order, that no reader asked for, listing the keys that are understood.
    public func finish() throws(ConfigError) {
        let known = knownKeys.withLockedValue { $0 }
        guard let unknown = keys.first(where: { !known.contains($0) }) else { return }
        let list = known.isEmpty ? "none" : known.sorted().joined(separator: ", ")
        throw ConfigError(
            path: ConfigNode.childPath(path, key: unknown),
            message: "unknown key; known keys: \(list)"
        )
    }
}
