/// `routes[].upstream`: the SSE backend a route serves, as a URL string or an object with `url`, `forwardHeaders`,
/// `connectTimeout` and `maxBackoff`.
public struct UpstreamSettings: Sendable, Equatable {
    /// The backend's stream: `http://host:port/path?query` (TLS comes with the gateway's own).
    public var host: String
    public var port: Int
    /// Path and query, as sent in the request line; the client's query string is appended.
    public var target: String
    /// Request headers copied from the client's request (lower-case names). `Last-Event-ID` is always sent;
    /// `Authorization` only when listed here.
    public var forwardHeaders: [String] = []
    /// How long connecting and receiving the answer's head may take. Default 5 seconds.
    public var connectTimeout: Duration = .seconds(5)
    /// The longest wait between two reconnects to a backend that ended or failed; waits grow from the backend's
    /// `retry` (or 100 ms) and are jittered. Default 10 seconds.
    public var maxBackoff: Duration = .seconds(10)
    /// The URL as configured, for messages.
    public var url: String
    /// One upstream request per distinct URL (with the forwarded query) for every client of the route, instead of
    /// one per client; its events also go to a replay ring for `Last-Event-ID`. Default false.
    public var share = false
    /// How long a shared request stays open after its last client has left, for the next one. Default 30 seconds.
    public var linger: Duration = .seconds(30)
    /// Events a shared request keeps for clients that come back with `Last-Event-ID`. Default 1000.
    public var replaySize = 1000

    init(from node: ConfigNode) throws(ConfigError) {
        if case .string = node.value {
            self = try Self(url: node)
            return
        }
        let object = try node.object()
        self = try object.require("url") { node throws(ConfigError) in try Self(url: node) }
        let defaults = self
        self.forwardHeaders = try object.decode("forwardHeaders", default: defaults.forwardHeaders) {
            node throws(ConfigError) in
            try node.array { element throws(ConfigError) in
                let name = try element.string()
                guard !name.isEmpty, name.utf8.allSatisfy({ $0 > 32 && $0 < 127 && $0 != UInt8(ascii: ":") }) else {
                    throw element.error("must be a header name")
                }
                return name.lowercased()
            }
        }
        self.connectTimeout = try object.decode("connectTimeout", default: defaults.connectTimeout) {
            node throws(ConfigError) in try node.duration()
        }
        self.maxBackoff = try object.decode("maxBackoff", default: defaults.maxBackoff) {
            node throws(ConfigError) in try node.duration()
        }
        self.share = try object.decode("share", default: defaults.share) { node throws(ConfigError) in try node.bool() }
        self.linger = try object.decode("linger", default: defaults.linger) {
            node throws(ConfigError) in try node.duration()
        }
        self.replaySize = try object.decode("replaySize", default: defaults.replaySize) {
            node throws(ConfigError) in try node.int(in: 0...1_000_000)
        }
        try object.finish()
    }

    private init(url node: ConfigNode) throws(ConfigError) {
        let url = try node.string()
        guard url.hasPrefix("http://") else {
            throw node.error("must be an http:// URL of an SSE backend, got \"\(url)\"")
        }
        let rest = url.dropFirst("http://".count)
        let authority = rest.prefix { $0 != "/" && $0 != "?" }
        var target = String(rest.dropFirst(authority.count))
        if target.isEmpty || target.hasPrefix("?") { target = "/" + target }
        let host: Substring
        var port = 80
        if let colon = authority.lastIndex(of: ":"), !authority.hasSuffix("]") {
            host = authority[..<colon]
            guard let parsed = Int(authority[authority.index(after: colon)...]), (1...65535).contains(parsed) else {
                throw node.error("has no valid port: \"\(url)\"")
            }
            port = parsed
        } else {
            host = authority
        }
        guard !host.isEmpty, !target.contains("#") else { throw node.error("is not a usable URL: \"\(url)\"") }
        self.host = host.hasPrefix("[") ? String(host.dropFirst().dropLast()) : String(host)
        self.port = port
        self.target = target
        self.url = url
    }
}
