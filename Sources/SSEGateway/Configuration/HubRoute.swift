/// A path where the hub is served, with its own view of the middleware chain.
///
/// The hub is always at `/.well-known/mercure`; a route with that path changes its chain, any other path mounts the
/// same hub (same topics, same history) a second time, for example without compression or without auth.
public struct HubRoute: Sendable, Equatable {
    /// The path, starting with `/`.
    public var path: String
    /// Names of global middleware this route leaves out.
    public var skip: [String] = []
    /// A chain that replaces the global one for this route, when set.
    public var middleware: [MiddlewareEntry]?

    public init(path: String, skip: [String] = [], middleware: [MiddlewareEntry]? = nil) {
        self.path = path
        self.skip = skip
        self.middleware = middleware
    }

    static let reservedPaths: Set<String> = ["/healthz", "/readyz", "/metrics"]
}

extension HubRoute {
    init(from node: ConfigNode, globalChain: [MiddlewareEntry]) throws(ConfigError) {
        self.init(path: "")
        let object = try node.object()
        path = try object.require("path") { node throws(ConfigError) in
            let path = try node.string()
            guard path.hasPrefix("/"), !path.contains("?"), !path.contains("#") else {
                throw node.error("must be a path starting with \"/\", without query or fragment")
            }
            guard !Self.reservedPaths.contains(path) else {
                throw node.error("\(path) is reserved for the gateway's own endpoint")
            }
            return path
        }
        let skipNode = object.node("skip")
        skip =
            try skipNode?.array { element throws(ConfigError) in
                let name = try element.string()
                guard globalChain.contains(where: { $0.name == name }) else {
                    let known = globalChain.map(\.name).joined(separator: ", ")
                    throw element.error("no middleware named \"\(name)\" in the global chain; it has: \(known)")
                }
                return name
            } ?? []
        middleware = try object.decodeIfPresent("middleware") { node throws(ConfigError) in
            try MiddlewareEntry.chain(from: node)
        }
        if let skipNode, middleware != nil {
            throw skipNode.error("use either \"skip\" or \"middleware\" in a route, not both")
        }
        try object.finish()
    }
}
