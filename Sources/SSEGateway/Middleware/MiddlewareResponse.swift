public import NIOHTTP1

/// A complete answer a middleware gives instead of the hub, such as a CORS preflight's `204`.
public struct MiddlewareResponse: Sendable {
    public var status: HTTPResponseStatus
    public var headers: HTTPHeaders
    public var body: String

    public init(_ status: HTTPResponseStatus, headers: HTTPHeaders = [:], body: String = "") {
        self.status = status
        self.headers = headers
        self.body = body
    }
}
