import NIOCore
import NIOHTTP2
import NIOSSL
import NIOTLS

/// Sets up an accepted connection's pipeline: TLS when configured (its handshake under a deadline, the protocol
/// chosen by ALPN), then HTTP/1.1, or HTTP/2 with one ``HTTPConnectionHandler`` per stream.
enum ConnectionPipeline {
    static func configure(channel: any Channel, server: ServerContext) throws {
        let capacity = server.connections.admit(channel)
        guard let tls = server.tls else {
            if server.configuration.server.http2.cleartext {
                try channel.pipeline.syncOperations.addHandler(
                    HTTP2PriorKnowledgeDetector(
                        timeout: server.connectionConfiguration.requestHeaderTimeout,
                        configure: { channel, isHTTP2 in
                            if isHTTP2 {
                                try Self.configureHTTP2(channel: channel, server: server, capacity: capacity)
                            } else {
                                try Self.configureHTTP1(channel: channel, server: server, capacity: capacity)
                            }
                        }))
            } else {
                try Self.configureHTTP1(channel: channel, server: server, capacity: capacity)
            }
            return
        }
        // TLS has its own end of stream (close_notify): a TCP FIN under it means the client has gone, and the TLS
        // handler, waiting for a close_notify that will not come, would hold the connection otherwise.
        try channel.syncOptions?.setOption(.allowRemoteHalfClosure, value: false)
        let pipeline = channel.pipeline.syncOperations
        try pipeline.addHandler(NIOSSLServerHandler(context: tls.context))
        try pipeline.addHandler(TLSHandshakeDeadline(timeout: TimeAmount(tls.settings.handshakeTimeout)))
        try pipeline.addHandler(
            ApplicationProtocolNegotiationHandler { result, channel in
                channel.eventLoop.makeCompletedFuture {
                    if case .negotiated("h2") = result {
                        try Self.configureHTTP2(channel: channel, server: server, capacity: capacity)
                    } else {
                        try Self.configureHTTP1(channel: channel, server: server, capacity: capacity)
                    }
                }
            })
    }

    static func configureHTTP1(
        channel: any Channel, server: ServerContext, capacity: AdmissionPolicy.Connection.Capacity
    ) throws {
        let codec = HTTPCodec(limits: server.admission.decoderLimits)
        let handler = HTTPConnectionHandler(server: server, codec: codec, capacity: capacity)
        try codec.install(in: channel.pipeline.syncOperations, connection: handler)
    }

    /// NIO's HTTP/2 handler with the configured settings; every stream the client opens gets its own codec and
    /// ``HTTPConnectionHandler``, under the connection's admission.
    static func configureHTTP2(
        channel: any Channel, server: ServerContext, capacity: AdmissionPolicy.Connection.Capacity
    ) throws {
        let settings = server.configuration.server.http2
        var connection = NIOHTTP2Handler.ConnectionConfiguration()
        connection.initialSettings = [
            HTTP2Setting(parameter: .maxConcurrentStreams, value: settings.maxConcurrentStreams),
            HTTP2Setting(parameter: .maxHeaderListSize, value: settings.maxHeaderListSize),
            HTTP2Setting(parameter: .initialWindowSize, value: settings.initialWindowSize),
        ]
        var stream = NIOHTTP2Handler.StreamConfiguration()
        stream.targetWindowSize = settings.initialWindowSize
        stream.streamResetFrameRateLimit.maximumCount = settings.maxStreamResets
        stream.streamResetFrameRateLimit.windowLength = TimeAmount(settings.streamResetWindow)
        // A stream's writes wait in its channel up to the bytes a slow consumer may hold, as on HTTP/1.
        let highWater = max(2, server.configuration.streams.maxBufferedBytes / 2)
        stream.outboundBufferSizeHighWatermark = highWater
        stream.outboundBufferSizeLowWatermark = max(1, highWater / 2)
        // NIO's connection manager: GOAWAY on shutdown's quiesce, and a connection without streams closed after
        // the keep-alive timeout, as an idle HTTP/1 connection is.
        let manager = NIOHTTP2ServerConnectionManagementHandler(
            eventLoop: channel.eventLoop,
            configuration: .init(
                maxIdleTime: server.connectionConfiguration.keepAliveTimeout, maxAge: nil, maxGraceTime: nil,
                keepalive: nil))
        let http2 = NIOHTTP2Handler(
            mode: .server,
            eventLoop: channel.eventLoop,
            connectionConfiguration: connection,
            streamConfiguration: stream,
            streamDelegate: manager.http2StreamDelegate
        ) { streamChannel in
            streamChannel.eventLoop.makeCompletedFuture {
                let codec = HTTP2StreamCodec()
                let handler = HTTPConnectionHandler(server: server, codec: codec, capacity: capacity)
                try codec.install(in: streamChannel.pipeline.syncOperations, connection: handler)
            }
        }
        let pipeline = channel.pipeline.syncOperations
        try pipeline.addHandler(CloseOnInputClosed())
        try pipeline.addHandler(FlushCoalescer())
        try pipeline.addHandler(http2)
        try pipeline.addHandler(manager)
        try pipeline.addHandler(CloseOnError())
        if channel.isActive {
            // Added after TLS's negotiation, on an active channel: start its timers as activation would.
            manager.channelActive(context: try pipeline.context(handler: manager))
        }
        server.http2Connections.add(channel)
    }
}
