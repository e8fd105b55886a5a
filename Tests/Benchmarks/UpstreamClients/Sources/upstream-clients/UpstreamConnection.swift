// A verbatim copy of Sources/SSEGateway/Upstream/UpstreamConnection.swift (the gateway's upstream client), so that
// the nio mode measures the gateway's own pipeline. Keep it in step with that file.

import NIOCore
import NIOHTTP1
import NIOPosix

/// One request to an SSE backend over NIO's own HTTP/1 client pipeline: connect, send the request, receive the
/// answer's head, then hand the body over as it arrives, read only as fast as the client's stream takes it.
///
/// NIO's pipeline rather than async-http-client: a stream needs none of its pooling, redirects or TLS yet, and this
/// keeps each upstream stream to one channel with three handlers.
struct UpstreamConnection: Sendable {
    /// Why a connection did not give a stream.
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    let head: HTTPResponseHead
    private let channel: NIOAsyncChannel<ByteBuffer, Never>

    /// Connects and sends `GET target` with `headers`; returns once the answer's head is in, or throws after
    /// `timeout`. The connection is closed when this throws.
    static func open(
        host: String,
        port: Int,
        target: String,
        headers: HTTPHeaders,
        timeout: Duration,
        group: any EventLoopGroup
    ) async throws -> UpstreamConnection {
        let amount = TimeAmount.nanoseconds(
            timeout.components.seconds * 1_000_000_000 + timeout.components.attoseconds / 1_000_000_000)
        let (channel, headFuture) = try await ClientBootstrap(group: group)
            .connectTimeout(amount)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .connect(host: host, port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    let heads = UpstreamHeadHandler(promise: channel.eventLoop.makePromise())
                    try channel.pipeline.syncOperations.addHandler(heads)
                    let async = try NIOAsyncChannel<ByteBuffer, Never>(wrappingChannelSynchronously: channel)
                    return (async, heads.promise.futureResult)
                }
            }
        var requestHeaders = headers
        requestHeaders.replaceOrAdd(name: "Host", value: port == 80 ? host : "\(host):\(port)")
        requestHeaders.replaceOrAdd(name: "Accept", value: "text/event-stream")
        requestHeaders.replaceOrAdd(name: "Cache-Control", value: "no-cache")
        let request = HTTPRequestHead(version: .http1_1, method: .GET, uri: target, headers: requestHeaders)
        channel.channel.write(HTTPClientRequestPart.head(request), promise: nil)
        channel.channel.writeAndFlush(HTTPClientRequestPart.end(nil), promise: nil)
        let timer = channel.channel.eventLoop.scheduleTask(in: amount) {
            channel.channel.close(promise: nil)
        }
        do {
            let head = try await headFuture.get()
            timer.cancel()
            return UpstreamConnection(head: head, channel: channel)
        } catch {
            timer.cancel()
            channel.channel.close(promise: nil)
            throw Failure(description: "no answer from \(host):\(port) within \(timeout): \(error)")
        }
    }

    /// Whether the answer is a stream: `200` with `text/event-stream`.
    var isEventStream: Bool {
        self.head.status == .ok
            && (self.head.headers.first(name: "content-type")?.lowercased().hasPrefix("text/event-stream") ?? false)
    }

    /// Hands each piece of the body to `body` until the backend ends the stream (returns) or the connection fails
    /// (throws); the connection is closed either way, and at once when the calling task is cancelled.
    func read(_ body: (ByteBuffer) async throws -> Void) async throws {
        try await withTaskCancellationHandler {
            try await self.channel.executeThenClose { inbound in
                for try await piece in inbound {
                    try await body(piece)
                }
            }
        } onCancel: {
            self.channel.channel.close(promise: nil)
        }
    }

    /// Closes the connection without reading it (a stream that never started).
    func close() {
        self.channel.channel.close(promise: nil)
    }
}

/// Catches the answer's head for ``UpstreamConnection/open``, passes the body on as bytes, and closes the channel at
/// the end of the answer, which ends the body's sequence.
private final class UpstreamHeadHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias InboundOut = ByteBuffer

    let promise: EventLoopPromise<HTTPResponseHead>
    /// Whether the promise is settled: it is settled once, by the head or by whatever ends the channel first.
    private var settled = false

    init(promise: EventLoopPromise<HTTPResponseHead>) {
        self.promise = promise
    }

    private func fail(_ error: any Error) {
        guard !self.settled else { return }
        self.settled = true
        self.promise.fail(error)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch Self.unwrapInboundIn(data) {
        case .head(let head):
            guard !self.settled else { return }
            self.settled = true
            self.promise.succeed(head)
        case .body(let bytes):
            context.fireChannelRead(Self.wrapInboundOut(bytes))
        case .end:
            context.close(promise: nil)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.fail(UpstreamConnection.Failure(description: "the connection closed before an answer"))
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        // A channel that never connected is removed without becoming inactive.
        self.fail(UpstreamConnection.Failure(description: "the connection closed before an answer"))
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        self.fail(error)
        context.fireErrorCaught(error)
    }
}
