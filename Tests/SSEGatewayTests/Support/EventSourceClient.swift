import Foundation
import NIOConcurrencyHelpers
import NIOCore

/// The gateways a load balancer sends clients to: the ports of the nodes that are up.
final class LoadBalancer: Sendable {
    private let ports: NIOLockedValueBox<[Int]>

    init(ports: [Int]) {
        self.ports = NIOLockedValueBox(ports)
    }

    var current: [Int] { self.ports.withLockedValue { $0 } }

    /// A node is replaced (restarted on another port), or goes away (`new` nil).
    func replace(_ old: Int, with new: Int?) {
        self.ports.withLockedValue { ports in
            ports.removeAll { $0 == old }
            if let new { ports.append(new) }
        }
    }
}

/// A client that behaves like a browser's `EventSource`: it reads one stream, remembers the last `id:` and the
/// last `retry:`, and when the stream ends waits that long and reconnects, with `Last-Event-ID`, to a node the load
/// balancer offers. Stops once it has seen `finalID`.
final class EventSourceClient: Sendable {
    private struct State {
        var ids: [String] = []
        var lastID: String?
        var retry: Duration = .seconds(3)
        var reconnects: [ContinuousClock.Instant] = []
        var connections = 0
    }

    let query: String
    private let balancer: LoadBalancer
    private let state = NIOLockedValueBox(State())

    init(query: String, balancer: LoadBalancer) {
        self.query = query
        self.balancer = balancer
    }

    /// Every event id received, in order, across reconnects.
    var ids: [String] { self.state.withLockedValue { $0.ids } }
    /// When each reconnect (after a stream ended) was attempted.
    var reconnects: [ContinuousClock.Instant] { self.state.withLockedValue { $0.reconnects } }

    /// Connects once (returns when the stream is open), then keeps reading and reconnecting in the background until
    /// `finalID` arrives or `deadline` passes.
    func start(until finalID: String, deadline: ContinuousClock.Instant) async throws -> Task<Void, any Error> {
        let first = try await self.open(deadline: deadline)
        return Task {
            var client = first
            while true {
                let finished = try await self.read(client, until: finalID, deadline: deadline)
                if finished { return }
                let retry = self.state.withLockedValue { $0.retry }
                try await Task.sleep(for: retry)
                self.state.withLockedValue { $0.reconnects.append(.now) }
                client = try await self.open(deadline: deadline)
            }
        }
    }

    /// Opens a stream on a node that is up, trying the others (and again, briefly later) while none answers 200.
    private func open(deadline: ContinuousClock.Instant) async throws -> RawClient {
        var attempt = 0
        while true {
            let ports = self.balancer.current
            if !ports.isEmpty {
                let port = ports[(attempt + Int.random(in: 0..<ports.count)) % ports.count]
                if let client = try? await RawClient.connect(port: port) {
                    let lastID = self.state.withLockedValue { $0.lastID }
                    try await client.sendRequest(
                        "GET", "/.well-known/mercure?\(self.query)",
                        headers: lastID.map { ["Last-Event-ID: \($0)"] } ?? [])
                    let head = try? await client.waitFor("a response head", timeout: .seconds(5)) { bytes, closed in
                        closed || bytes.firstRange(of: Array("\r\n\r\n".utf8)) != nil
                    }
                    if let head, head.hasPrefix("HTTP/1.1 200") {
                        self.state.withLockedValue { $0.connections += 1 }
                        return client
                    }
                    try? await client.close()
                }
            }
            attempt += 1
            guard ContinuousClock.now < deadline else {
                throw TestTimeout(what: "a node to open a stream", received: "ports \(ports)")
            }
            try await Task.sleep(for: .milliseconds(50))
        }
    }

    /// Reads `client`'s stream until it ends or carries `finalID`; records what it received. Returns whether
    /// `finalID` arrived.
    private func read(_ client: RawClient, until finalID: String, deadline: ContinuousClock.Instant) async throws
        -> Bool
    {
        let needle = "id: \(finalID)\n"
        let remaining = deadline - .now
        let text = try await client.waitFor(
            "the stream to end or \(finalID)",
            timeout: .nanoseconds(
                max(1, remaining.components.seconds * 1_000_000_000 + remaining.components.attoseconds / 1_000_000_000))
        ) { bytes, closed in
            closed || String(decoding: bytes, as: UTF8.self).contains(needle)
        }
        let body = try await TestSubscriber(client: client).body()
        _ = text
        let events = body.components(separatedBy: "\n\n").dropLast()
        self.state.withLockedValue { state in
            for event in events {
                for line in event.split(separator: "\n") {
                    if line.hasPrefix("retry: "), let ms = Int(line.dropFirst(7)) { state.retry = .milliseconds(ms) }
                    if line.hasPrefix("id: ") {
                        let id = String(line.dropFirst(4))
                        state.ids.append(id)
                        state.lastID = id
                    }
                }
            }
        }
        let finished = body.contains(needle)
        try? await client.close()
        return finished
    }
}
