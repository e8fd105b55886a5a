import NIOConcurrencyHelpers
import NIOCore

/// The open HTTP/2 connections, so that shutdown can tell each to stop taking streams (`GOAWAY`) while the streams
/// it carries still get the notice and are closed by the sequence's later steps.
final class HTTP2ConnectionRegistry: Sendable {
    private let channels = NIOLockedValueBox<[ObjectIdentifier: any Channel]>([:])

    /// Holds `channel` until it closes.
    func add(_ channel: any Channel) {
        let key = ObjectIdentifier(channel)
        self.channels.withLockedValue { $0[key] = channel }
        channel.closeFuture.whenComplete { _ in
            self.channels.withLockedValue { _ = $0.removeValue(forKey: key) }
        }
    }

    var count: Int { self.channels.withLockedValue { $0.count } }

    /// Sends every connection a graceful close: NIO's connection manager answers with `GOAWAY` and closes the
    /// connection once its last stream has ended.
    func quiesceAll() {
        for channel in self.channels.withLockedValue({ Array($0.values) }) {
            channel.eventLoop.execute {
                channel.pipeline.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
            }
        }
    }
}
