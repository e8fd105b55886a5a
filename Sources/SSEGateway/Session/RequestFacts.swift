public import NIOCore
public import NIOHTTP1

/// What the gateway knew about the request that opened a stream: middleware decides on these facts.
public struct RequestFacts: Sendable {
    /// The request method (`GET` for a stream).
    public var method: HTTPMethod
    /// The request target as sent, with its query string.
    public var uri: String
    /// The path part of `uri`, still percent-encoded.
    public var path: String
    /// Query parameters in order, percent-decoded; names may repeat (`topic`).
    public var query: [(name: String, value: String)]
    /// Request headers as sent.
    public var headers: HTTPHeaders
    /// The peer's address (the proxy's, behind a proxy).
    public var remoteAddress: SocketAddress?
    /// HTTP version of the request.
    public var version: HTTPVersion

    public init(
        method: HTTPMethod,
        uri: String,
        path: String,
        query: [(name: String, value: String)],
        headers: HTTPHeaders,
        remoteAddress: SocketAddress?,
        version: HTTPVersion
    ) {
        self.method = method
        self.uri = uri
        self.path = path
        self.query = query
        self.headers = headers
        self.remoteAddress = remoteAddress
        self.version = version
    }

    /// All values of a query parameter, in order.
    public func queryValues(_ name: String) -> [String] {
        self.query.compactMap { $0.name == name ? $0.value : nil }
    }
}
