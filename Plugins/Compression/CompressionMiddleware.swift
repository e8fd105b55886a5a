import NIOCore
import NIOHTTP1
public import SSEGateway

/// Compresses event streams with gzip or deflate for the clients that ask for it in `Accept-Encoding`.
///
/// The connect phase negotiates the coding, keeps it in the session (``Negotiated``), announces it with
/// `Content-Encoding`, and always adds `Vary: Accept-Encoding`, since the same URL answers differently by that header.
/// Each compressed stream then gets its own zlib stream, in a stream filter that flushes after every message, so
/// each event, comment and heartbeat is decodable the moment it arrives; when the gateway ends the stream, the
/// coding's trailer goes out before the last chunk. The zlib state is freed by a will-close listener on the stream's
/// event loop, however the session ends.
///
/// List it before any middleware whose filter changes bytes: the first filter's output is what reaches the socket.
/// Compression is the dominant cost of a delivery (each subscriber's copy is compressed on its own), so enable it on
/// the routes that need it.
public struct CompressionMiddleware: MiddlewarePlugin {
    public static let name = "compression"

    /// The coding negotiated for a session in its connect phase; ``ContentCoding/identity`` when the stream goes out
    /// uncompressed.
    public enum Negotiated: SessionAttributeKey {
        public typealias Value = ContentCoding
    }

    /// The settings every stream is compressed with.
    public let configuration: Configuration
    private let counter: LiveResourceCount

    /// Creates the middleware for use in code.
    public init(configuration: Configuration = Configuration()) {
        self.init(configuration: configuration, counter: LiveResourceCount())
    }

    private init(configuration: Configuration, counter: LiveResourceCount) {
        self.configuration = configuration
        self.counter = counter
    }

    public init(settings: ConfigObject, context: MiddlewareContext) throws(ConfigError) {
        let configuration = try Configuration(settings: settings)
        if configuration.level == 0 {
            context.warn(
                "\(context.name): level 0 stores events uncompressed while still holding a zlib stream per subscriber"
            )
        }
        let perStream = configuration.estimatedBytesPerStream
        if perStream > 128 * 1024 {
            context.warn(
                "\(context.name): windowBits \(configuration.windowBits) with memLevel \(configuration.memLevel) "
                    + "holds about \(perStream / 1024) KiB of zlib state per compressed stream"
            )
        }
        self.init(
            configuration: configuration,
            counter: LiveResourceCount(gaugeLabel: "sse_compression_streams_active", metrics: context.metrics))
    }

    /// zlib streams this middleware currently holds (one per open compressed stream): it returns to zero once every
    /// compressed session has closed, which is how leaks show. A middleware built from configuration also reports it
    /// on `/metrics` as `sse_compression_streams_active`.
    public var liveStreams: Int { self.counter.value }

    /// No publish phase: a publish passes without a task.
    public func publishWithoutSuspending(_ publish: PublishContext) throws -> PhaseProgress { .finished }

    public func connect(_ session: Session) async throws {
        let coding = AcceptEncoding.negotiate(session.request.headers, offered: self.configuration.encodings)
        session[Negotiated.self] = coding
        var headers = session.responseHeaders
        let varies = headers["Vary"].contains { value in
            value.split(separator: ",").contains {
                let token = $0.filter { $0 != " " && $0 != "\t" }.lowercased()
                return token == "accept-encoding" || token == "*"
            }
        }
        if !varies { headers.add(name: "Vary", value: "Accept-Encoding") }
        if coding != .identity { headers.replaceOrAdd(name: "Content-Encoding", value: coding.rawValue) }
        session.responseHeaders = headers
    }

    public func makeStreamFilter(for stream: SessionStream) -> (any StreamFilter)? {
        let session = stream.session
        guard let coding = session[Negotiated.self], coding != .identity else { return nil }
        guard let deflater = Deflater(coding: coding, settings: self.configuration, counter: self.counter) else {
            // The head already announces the coding: a stream that cannot be compressed must not carry events.
            session.close(reason: .compressionUnavailable)
            return CompressionFilter(coding: coding, deflater: nil)
        }
        let filter = CompressionFilter(coding: coding, deflater: deflater)
        let loop = session.eventLoop
        let bound = NIOLoopBound(filter, eventLoop: loop)
        session.addWillCloseListener { _, _ in
            // The gateway's teardown, which writes the trailer, is queued on the loop before this runs.
            try await loop.submit { bound.value.release() }.get()
        }
        return filter
    }
}

extension CloseReason {
    /// zlib could not allocate a stream for a session that negotiated compression.
    public static let compressionUnavailable = CloseReason("compression_unavailable")
}
