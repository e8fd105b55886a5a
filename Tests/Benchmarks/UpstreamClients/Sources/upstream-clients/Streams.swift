import AsyncHTTPClient
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// What every stream has received so far, added up across streams.
final class Totals: Sendable {
    let bytes = Atomic<Int>(0)
    /// "\n\n" sequences: one per SSE message, the backend's opening comment included.
    let events = Atomic<Int>(0)
    /// Streams whose body ended or failed after their head.
    let ended = Atomic<Int>(0)

    var json: String {
        "{\"events\": \(self.events.load(ordering: .relaxed)), \"bytes\": \(self.bytes.load(ordering: .relaxed)), "
            + "\"ended\": \(self.ended.load(ordering: .relaxed))}"
    }
}

/// The whole of each stream's work, the same in both modes: count the bytes and the "\n\n" in each piece of the body.
struct Tally {
    /// Whether the previous piece ended with "\n", so that a "\n\n" split across two pieces counts once.
    private var newline = false

    mutating func count(_ piece: ByteBuffer, into totals: Totals) {
        var found = 0
        var newline = self.newline
        piece.withUnsafeReadableBytes { bytes in
            for byte in bytes {
                if byte == UInt8(ascii: "\n") {
                    if newline {
                        found += 1
                        newline = false
                    } else {
                        newline = true
                    }
                } else {
                    newline = false
                }
            }
        }
        self.newline = newline
        totals.bytes.add(piece.readableBytes, ordering: .relaxed)
        if found > 0 { totals.events.add(found, ordering: .relaxed) }
    }
}

/// Where the streams go, and how each one reports that its head is in (`nil`) or that it failed before (the error).
struct Target: Sendable {
    let url: String
    let host: String
    let port: Int
    let path: String
    let totals: Totals
    let started: AsyncStream<String?>.Continuation

    init(url: String, totals: Totals, started: AsyncStream<String?>.Continuation) throws {
        guard url.hasPrefix("http://") else { throw UsageError(description: "only http:// URLs: \(url)") }
        let rest = url.dropFirst("http://".count)
        let authority = rest.prefix { $0 != "/" }
        let path = rest.dropFirst(authority.count)
        if let colon = authority.lastIndex(of: ":"), let port = Int(authority[authority.index(after: colon)...]) {
            self.host = String(authority[..<colon])
            self.port = port
        } else {
            self.host = String(authority)
            self.port = 80
        }
        self.url = url
        self.path = path.isEmpty ? "/" : String(path)
        self.totals = totals
        self.started = started
    }
}

struct UsageError: Error, CustomStringConvertible {
    var description: String
}

/// One stream over NIO's own HTTP/1 client pipeline, as the gateway's upstream routes open and read it.
func startNIOStream(_ target: Target, on eventLoop: any EventLoop) {
    Task {
        let connection: UpstreamConnection
        do {
            connection = try await UpstreamConnection.open(
                host: target.host, port: target.port, target: target.path, headers: HTTPHeaders(),
                timeout: .seconds(30), group: eventLoop)
        } catch {
            target.started.yield("\(error)")
            return
        }
        guard connection.isEventStream else {
            connection.close()
            target.started.yield("answered \(connection.head.status.code), not an event stream")
            return
        }
        target.started.yield(nil)
        var tally = Tally()
        do {
            try await connection.read { piece in
                tally.count(piece, into: target.totals)
            }
        } catch {}
        target.totals.ended.add(1, ordering: .relaxed)
    }
}

/// One stream over async-http-client: `execute` returns at the head, and the body is an AsyncSequence of ByteBuffer.
func startAHCStream(_ target: Target, client: HTTPClient) {
    Task {
        var request = HTTPClientRequest(url: target.url)
        request.method = .GET
        request.headers.replaceOrAdd(name: "Accept", value: "text/event-stream")
        request.headers.replaceOrAdd(name: "Cache-Control", value: "no-cache")
        let response: HTTPClientResponse
        do {
            // The deadline covers the whole request, body included: far beyond any run.
            response = try await client.execute(request, timeout: .hours(24))
        } catch {
            target.started.yield("\(error)")
            return
        }
        let type = response.headers.first(name: "content-type")?.lowercased() ?? ""
        guard response.status == .ok, type.hasPrefix("text/event-stream") else {
            target.started.yield("answered \(response.status.code), not an event stream")
            return
        }
        target.started.yield(nil)
        var tally = Tally()
        do {
            for try await piece in response.body {
                tally.count(piece, into: target.totals)
            }
        } catch {}
        target.totals.ended.add(1, ordering: .relaxed)
    }
}
