import NIOCore
import Synchronization

/// Counts a server's open connections, in all and per peer address, so that a flood is answered (`503` beyond
/// `server.maxConnections`, `429` beyond `server.maxConnectionsPerAddress`) instead of exhausting file descriptors.
///
/// A connection is counted from accept to close, whatever it carries; a refused one still counts until it closes,
/// which is right: it still holds a descriptor. Per-address counting is off when its limit is 0, since behind a load
/// balancer every connection has the balancer's address.
final class ConnectionLimiter: Sendable {
    private let maxConnections: Int
    private let maxPerAddress: Int
    private let open = Atomic<Int>(0)
    private let byAddress = Mutex<[String: Int]>([:])

    init(maxConnections: Int, maxPerAddress: Int) {
        self.maxConnections = maxConnections
        self.maxPerAddress = maxPerAddress
    }

    /// Connections open now.
    var openCount: Int {
        self.open.load(ordering: .relaxed)
    }

    /// Counts `channel` until it closes and says whether it fits the limits.
    func admit(_ channel: any Channel) -> AdmissionPolicy.Connection.Capacity {
        let total = self.open.wrappingAdd(1, ordering: .relaxed).newValue
        let address = self.maxPerAddress > 0 ? channel.remoteAddress?.ipAddress : nil
        var fromAddress = 0
        if let address {
            fromAddress = self.byAddress.withLock { counts in
                counts[address, default: 0] += 1
                return counts[address]!
            }
        }
        // Two closures rather than one with an optional: this one lives as long as the connection, stream or not.
        if let address {
            channel.closeFuture.whenComplete { _ in
                self.open.wrappingSubtract(1, ordering: .relaxed)
                self.release(address)
            }
        } else {
            channel.closeFuture.whenComplete { _ in self.open.wrappingSubtract(1, ordering: .relaxed) }
        }
        if total > self.maxConnections { return .overServerLimit }
        if address != nil, fromAddress > self.maxPerAddress { return .overAddressLimit }
        return .available
    }

    /// Addresses with at least one open connection, for tests and leak checks.
    var addressCount: Int {
        self.byAddress.withLock { $0.count }
    }

    private func release(_ address: String) {
        self.byAddress.withLock { counts in
            guard let count = counts[address] else { return }
            if count <= 1 {
                counts[address] = nil
            } else {
                counts[address] = count - 1
            }
        }
    }
}
