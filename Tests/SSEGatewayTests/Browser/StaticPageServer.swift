import NIOCore
import NIOHTTP1
import NIOPosix

/// Serves one HTML page at `/` on 127.0.0.1, so a browser test has an origin of its own.
final class StaticPageServer {
    private let channel: any Channel

    var port: Int { self.channel.localAddress!.port! }

    init(html: String) async throws {
        self.channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(PageHandler(html: html))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
    }

    func stop() async throws {
        try await self.channel.close()
    }

    private final class PageHandler: ChannelInboundHandler {
        typealias InboundIn = HTTPServerRequestPart
        typealias OutboundOut = HTTPServerResponsePart
        let html: String

        init(html: String) { self.html = html }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            guard case .end = self.unwrapInboundIn(data) else { return }
            var body = context.channel.allocator.buffer(capacity: self.html.utf8.count)
            body.writeString(self.html)
            let headers: HTTPHeaders = [
                "Content-Type": "text/html; charset=utf-8", "Content-Length": "\(body.readableBytes)",
                "Cache-Control": "no-store",
            ]
            context.write(
                self.wrapOutboundOut(.head(.init(version: .http1_1, status: .ok, headers: headers))), promise: nil)
            context.write(self.wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
            context.writeAndFlush(self.wrapOutboundOut(.end(nil)), promise: nil)
        }
    }
}
