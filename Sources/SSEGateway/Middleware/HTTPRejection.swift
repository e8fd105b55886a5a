public import NIOHTTP1

/// Refuses a request with a status, extra headers and a one-line reason that becomes the response body.
public struct HTTPRejection: Error, Sendable, CustomStringConvertible {
    public var status: HTTPResponseStatus
    public var headers: HTTPHeaders
    public var reason: String

    public init(_ status: HTTPResponseStatus, reason: String, headers: HTTPHeaders = [:]) {
        self.status = status
        self.reason = reason
        self.headers = headers
    }

    public var description: String { "\(self.status.code) \(self.reason)" }
}
