import NIOCore
import NIOHTTP1

/// Writes complete answers through NIO's response encoder, with the headers every answer carries: those the
/// middleware added for the request, `Content-Type`, `Content-Length` and `Connection`.
struct ResponseWriter {
    let metrics: GatewayMetrics

    /// Writes and flushes `response`; the future completes once it has been written to the socket.
    ///
    /// - Parameters:
    ///   - omitBody: answering `HEAD`: the head says what a `GET` would get, and no body follows.
    ///   - flush: false leaves the flush to the caller (any later flush of the channel also sends it).
    @discardableResult
    func write(
        _ response: HTTPResponse,
        extraHeaders: HTTPHeaders,
        keepAlive: Bool,
        omitBody: Bool,
        flush: Bool = true,
        context: ChannelHandlerContext
    ) -> EventLoopFuture<Void> {
        var headers = extraHeaders
        var hasContentType = false
        for (name, value) in response.headers {
            if name.lowercased() == "content-type" { hasContentType = true }
            headers.add(name: name, value: value)
        }
        var body: ByteBuffer?
        if response.status == .noContent {
            // A 204 has neither content nor a Content-Length (RFC 9110, 8.6).
            headers.remove(name: "Content-Type")
        } else if response.hasContentLength {
            if !hasContentType { headers.add(name: "Content-Type", value: "text/plain; charset=utf-8") }
            let buffer = context.channel.allocator.buffer(string: response.body)
            headers.add(name: "Content-Length", value: String(buffer.readableBytes))
            if !omitBody, buffer.readableBytes > 0 { body = buffer }
        }
        headers.add(name: "Connection", value: keepAlive ? "keep-alive" : "close")
        self.metrics.httpResponse(status: Int(response.status.code))
        let head = HTTPResponseHead(version: .http1_1, status: response.status, headers: headers)
        context.write(NIOAny(HTTPServerResponsePart.head(head)), promise: nil)
        if let body {
            context.write(NIOAny(HTTPServerResponsePart.body(.byteBuffer(body))), promise: nil)
        }
        let end = NIOAny(HTTPServerResponsePart.end(nil))
        return flush ? context.writeAndFlush(end) : context.write(end)
    }

    /// Tells a client that waits with `Expect: 100-continue` to send its body.
    func writeContinue(context: ChannelHandlerContext) {
        let head = HTTPResponseHead(version: .http1_1, status: .continue)
        context.writeAndFlush(NIOAny(HTTPServerResponsePart.head(head)), promise: nil)
    }
}
