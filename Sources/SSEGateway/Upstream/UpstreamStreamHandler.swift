import CoreMetrics
import Logging
import NIOCore
import NIOHTTP1

/// Serves an SSE backend's stream through the route's chain: the client's query string, `Last-Event-ID` and the
/// configured headers go up; the backend's events come down re-framed (parsed by ``SSEParser``, so that filters see
/// events); the client leaving closes the backend's request at once (the task is cancelled); the backend ending or
/// failing is hidden from the client: the handler reconnects with the last id it saw, after the backend's `retry`
/// (jittered, growing up to `maxBackoff`), and the client's one stream goes on.
final class UpstreamStreamHandler: StreamHandler {
    /// The first connection, made in the connect phase so that a backend that does not stream gets the client a
    /// `502` rather than an empty stream.
    private enum FirstConnection: SessionAttributeKey {
        typealias Value = UpstreamConnection
    }

    /// Upstream connections open, and reconnects made, over every upstream route.
    struct Metrics: Sendable {
        let connections: CoreMetrics.Meter
        let reconnects: CoreMetrics.Counter

        init(factory: any MetricsFactory) {
            self.connections = CoreMetrics.Meter(label: "sse_upstream_connections_active", factory: factory)
            self.reconnects = CoreMetrics.Counter(label: "sse_upstream_reconnects_total", factory: factory)
            self.connections.set(0)
        }
    }

    let settings: UpstreamSettings
    private let logger: Logger
    private let metrics: Metrics

    init(settings: UpstreamSettings, logger: Logger, metrics: Metrics) {
        self.settings = settings
        self.logger = logger
        self.metrics = metrics
    }

    func prepare(_ session: Session) async throws {
        let connection = try await self.firstStream {
            try await self.connect(for: session, lastEventID: session.lastEventID)
        }
        session[FirstConnection.self] = connection
        // Closed with the session if the stream never starts.
        session.addWillCloseListener { session, _ in session[FirstConnection.self]?.close() }
    }

    func stream(_ session: Session, to writer: StreamWriter) async throws {
        guard let first = session[FirstConnection.self] else { throw CancellationError() }
        session[FirstConnection.self] = nil
        try await self.follow(from: first, after: session.lastEventID) { lastID in
            try await self.connect(for: session, lastEventID: lastID)
        } deliver: { message in
            try await writer.forward(message)
        }
    }

    /// The first request of a client's stream or of a shared feed: `502` with the reason when the backend is
    /// unreachable or does not answer with an event stream.
    private func firstStream(_ open: () async throws -> UpstreamConnection) async throws -> UpstreamConnection {
        let connection: UpstreamConnection
        do {
            connection = try await open()
        } catch {
            throw HTTPRejection(.badGateway, reason: "the upstream \(self.settings.url) is unreachable: \(error)")
        }
        guard connection.isEventStream else {
            connection.close()
            let type = connection.head.headers.first(name: "content-type") ?? "no content type"
            throw HTTPRejection(
                .badGateway,
                reason: "the upstream answered \(connection.head.status.code) (\(type)), not an event stream")
        }
        return connection
    }

    /// Reads `first`, handing every message to `deliver`; when the backend ends or fails, waits (its `retry`,
    /// growing) and reconnects after the last id seen, until the task is cancelled or `deliver` throws.
    private func follow(
        from first: UpstreamConnection,
        after cursor: String?,
        reconnect: (String?) async throws -> UpstreamConnection,
        deliver: (SSEParser.Message) async throws -> Void
    ) async throws {
        var next: UpstreamConnection? = first
        var lastID = cursor
        var retry = Duration.milliseconds(100)
        var failures = 0
        while true {
            if let connection = next {
                next = nil
                self.metrics.connections.increment()
                var parser = SSEParser()
                do {
                    try await connection.read { piece in
                        for message in parser.feed(piece) {
                            if let id = message.id { lastID = id }
                            if let ms = message.retry { retry = .milliseconds(ms) }
                            try await deliver(message)
                            failures = 0
                        }
                    }
                    self.metrics.connections.decrement()
                } catch {
                    self.metrics.connections.decrement()
                    if Task.isCancelled || error is StreamClosedError { throw error }
                    self.logger.notice(
                        "upstream stream failed", metadata: ["upstream": "\(self.settings.url)", "error": "\(error)"])
                }
            }
            try Task.checkCancellation()
            failures += 1
            try await Task.sleep(for: self.backoff(retry: retry, failures: failures))
            self.metrics.reconnects.increment()
            do {
                let connection = try await reconnect(lastID)
                if connection.isEventStream {
                    next = connection
                } else {
                    connection.close()
                    self.logger.notice(
                        "upstream answered without a stream; retrying",
                        metadata: ["upstream": "\(self.settings.url)", "status": "\(connection.head.status.code)"])
                }
            } catch {
                try Task.checkCancellation()
                self.logger.notice(
                    "upstream unreachable; retrying",
                    metadata: ["upstream": "\(self.settings.url)", "error": "\(error)"])
            }
        }
    }

    /// The backend's `retry` for the first attempt, doubling with each failure up to `maxBackoff`, jittered by up to
    /// a quarter so that the clients of one backend do not all come back at once.
    private func backoff(retry: Duration, failures: Int) -> Duration {
        let grown = retry * (1 << min(failures - 1, 16))
        let capped = min(grown, self.settings.maxBackoff)
        return capped * Double.random(in: 0.75...1.0)
    }

    /// The request target for `session`: the URL's own, then the client's query string.
    func target(for session: Session) -> String {
        var target = self.settings.target
        if let mark = session.request.uri.firstIndex(of: "?") {
            let query = session.request.uri[session.request.uri.index(after: mark)...]
            if !query.isEmpty { target += (target.contains("?") ? "&" : "?") + query }
        }
        return target
    }

    /// The client's headers that `forwardHeaders` lists.
    private func forwardedHeaders(of session: Session) -> HTTPHeaders {
        var headers = HTTPHeaders()
        for name in self.settings.forwardHeaders {
            for value in session.request.headers[name] { headers.add(name: name, value: value) }
        }
        return headers
    }

    private func connect(for session: Session, lastEventID: String?) async throws -> UpstreamConnection {
        var headers = self.forwardedHeaders(of: session)
        if let lastEventID { headers.replaceOrAdd(name: "Last-Event-ID", value: lastEventID) }
        // On the stream's own loop: the backend's bytes go to the client without a thread hop.
        return try await self.open(target: self.target(for: session), headers: headers, on: session.eventLoop)
    }

    private func open(target: String, headers: HTTPHeaders, on eventLoop: any EventLoop) async throws
        -> UpstreamConnection
    {
        try await UpstreamConnection.open(
            host: self.settings.host, port: self.settings.port, target: target, headers: headers,
            timeout: self.settings.connectTimeout, group: eventLoop)
    }

    // MARK: Shared feeds

    /// The first request of a shared feed, made in its first client's connect phase with that client's forwarded
    /// headers and no cursor (the feed's ring serves replays); `502` when it gives no stream.
    func firstConnection(for session: Session, target: String) async throws -> UpstreamConnection {
        try await self.firstStream {
            try await self.open(target: target, headers: self.forwardedHeaders(of: session), on: session.eventLoop)
        }
    }

    /// Publishes a shared feed's events into its hub until cancelled (its last client has gone), reconnecting with
    /// the last id after the backend ends or fails, like a client's own request.
    func feed(_ hub: Hub, from first: UpstreamConnection, target: String, on eventLoop: any EventLoop) async {
        do {
            try await self.follow(from: first, after: nil) { lastID in
                var headers = HTTPHeaders()
                if let lastID { headers.replaceOrAdd(name: "Last-Event-ID", value: lastID) }
                return try await self.open(target: target, headers: headers, on: eventLoop)
            } deliver: { message in
                guard let data = message.data else { return }
                let request = PublishRequest(
                    topics: [SharedUpstream.topic], data: data, id: message.id.flatMap { $0.isEmpty ? nil : $0 },
                    type: message.type, retry: message.retry)
                _ = try await hub.commit(request, on: eventLoop).get()
            }
        } catch {
            // Cancelled: the feed's last client has gone.
        }
    }
}
