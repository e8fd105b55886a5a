/// A path where the hub, or a stream handler, is served, with its own view of the middleware chain.
///
/// The hub is always at `/.well-known/mercure`; a route with that path changes its chain, any other path mounts the
/// same hub (same topics, same history) a second time, for example without compression or without auth. A route
/// with `stream` serves the ``StreamHandler`` registered under that name instead, with the route's other keys as its
/// settings.
public struct HubRoute: Sendable, Equatable {
    /// The path, starting with `/`.
    public var path: String
    /// Names of global middleware this route leaves out.
    public var skip: [String] = []
    /// A chain that replaces the global one for this route, when set.
    public var middleware: [MiddlewareEntry]?
    /// The stream handler this route serves (`"stream"`), or nil for the hub.
    public var stream: String?
    /// Every key of the route, for its stream handler to read.
    public var settings: [String: JSONValue]
    /// Where the route sits in the document, for error messages.
    public var configPath: String
    /// The SSE backend this route serves (`"upstream"`), or nil.
    public var upstream: UpstreamSettings?

    public init(
        path: String,
        skip: [String] = [],
        middleware: [MiddlewareEntry]? = nil,
        stream: String? = nil,
        settings: [String: JSONValue] = [:],
        configPath: String = "routes"
    ) {
        self.path = path
        self.skip = skip
        self.middleware = middleware
        self.stream = stream
        self.settings = settings
        self.configPath = configPath
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
        stream = try object.decodeIfPresent("stream") { node throws(ConfigError) in
            let name = try node.string()
            guard !name.isEmpty else { throw node.error("must not be empty") }
            guard path != Route.hubPath else { throw node.error("\(Route.hubPath) serves the hub") }
            return name
        }
        upstream = try object.decodeIfPresent("upstream") { node throws(ConfigError) in
            guard path != Route.hubPath else { throw node.error("\(Route.hubPath) serves the hub") }
            return try UpstreamSettings(from: node)
        }
        if let upstreamNode = object.node("upstream"), stream != nil {
            throw upstreamNode.error("use either \"stream\" or \"upstream\" in a route, not both")
        }
        configPath = node.path
        if stream != nil {
            // The rest are the stream handler's settings, which it reads and checks when the gateway is built.
            settings = object.members
        } else {
            try object.finish()
        }
    }
}
