/// One element of a `middleware` list in `config.json`: which middleware to use, and its settings.
public struct MiddlewareEntry: Sendable, Equatable {
    /// The registered middleware to use (`"use"`).
    public var use: String
    /// The entry's name in the chain (`"name"`, default: `use`), as route `skip` lists and logs refer to it.
    public var name: String
    /// Every key of the entry, for the middleware to read.
    public var settings: [String: JSONValue]
    /// Where the entry sits in the document, for error messages.
    public var path: String

    public init(use: String, name: String? = nil, settings: [String: JSONValue] = [:], path: String = "") {
        self.use = use
        self.name = name ?? use
        self.settings = settings
        self.path = path
    }
}

extension MiddlewareEntry {
    init(from node: ConfigNode) throws(ConfigError) {
        let object = try node.object()
        let use = try object.require("use") { node throws(ConfigError) in
            let use = try node.string()
            guard !use.isEmpty else { throw node.error("must not be empty") }
            return use
        }
        let name = try object.decodeIfPresent("name") { node throws(ConfigError) in
            let name = try node.string()
            guard !name.isEmpty else { throw node.error("must not be empty") }
            return name
        }
        self.init(use: use, name: name, settings: object.members, path: node.path)
    }

    /// Reads a chain, rejecting two entries with the same name.
    static func chain(from node: ConfigNode) throws(ConfigError) -> [MiddlewareEntry] {
        let entries = try node.array { element throws(ConfigError) in try MiddlewareEntry(from: element) }
        var seen: Set<String> = []
        for entry in entries where !seen.insert(entry.name).inserted {
            throw ConfigError(
                path: entry.path,
                message: "\"\(entry.name)\" appears twice in this chain; give one a distinct \"name\""
            )
        }
        return entries
    }
}
