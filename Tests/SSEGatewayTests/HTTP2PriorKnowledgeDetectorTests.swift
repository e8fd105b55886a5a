import NIOConcurrencyHelpers
import NIOCore
import NIOEmbedded
import Testing

@testable import SSEGateway

/// Telling h2c with prior knowledge from HTTP/1.1 by the first bytes, on an embedded channel.
@Suite("HTTP/2 prior-knowledge detection")
struct HTTP2PriorKnowledgeDetectorTests {
    /// Records the decision and every byte passed on after it.
    final class Decision: Sendable {
        let isHTTP2 = NIOLockedValueBox<Bool?>(nil)
    }

    final class Collector: ChannelInboundHandler, Sendable {
        typealias InboundIn = ByteBuffer
        let bytes = NIOLockedValueBox(ByteBuffer())
        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            var piece = Self.unwrapInboundIn(data)
            self.bytes.withLockedValue { _ = $0.writeBuffer(&piece) }
        }
    }

    static func channel(timeout: TimeAmount = .seconds(10)) throws -> (EmbeddedChannel, Decision, Collector) {
        let decision = Decision()
        let collector = Collector()
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(
            HTTP2PriorKnowledgeDetector(timeout: timeout) { channel, isHTTP2 in
                decision.isHTTP2.withLockedValue { $0 = isHTTP2 }
                try channel.pipeline.syncOperations.addHandler(collector)
            })
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        return (channel, decision, collector)
    }

    @Test(arguments: [[24], [1, 23], [5, 5, 5, 9], [3, 30]])
    func thePrefaceInAnyPiecesIsHTTP2(pieces: [Int]) throws {
        let (channel, decision, collector) = try Self.channel()
        let bytes = HTTP2PriorKnowledgeDetector.preface + Array("\0\0\0\u{4}".utf8)
        var offset = 0
        for size in pieces where offset < bytes.count {
            let end = min(offset + size, bytes.count)
            #expect(decision.isHTTP2.withLockedValue { $0 } == nil, "decided before the preface was complete")
            try channel.writeInbound(ByteBuffer(bytes: bytes[offset..<end]))
            offset = end
        }
        #expect(decision.isHTTP2.withLockedValue { $0 } == true)
        #expect(collector.bytes.withLockedValue { Array($0.readableBytesView) } == Array(bytes[..<offset]))
        #expect(throws: (any Error).self) {
            try channel.pipeline.syncOperations.handler(type: HTTP2PriorKnowledgeDetector.self)
        }
    }

    @Test(arguments: ["GET / HTTP/1.1\r\n", "P", "PRI * HTTP/1.1\r\n", "POST /x HTTP/1.1\r\n"])
    func anythingElseIsHTTP1WithEveryBytePassedOn(start: String) throws {
        let (channel, decision, collector) = try Self.channel()
        // A first byte that could begin the preface is held until a later one tells.
        for byte in start.utf8 {
            try channel.writeInbound(ByteBuffer(bytes: [byte]))
        }
        try channel.writeInbound(ByteBuffer(string: "Host: x\r\n\r\n"))
        #expect(decision.isHTTP2.withLockedValue { $0 } == false)
        #expect(collector.bytes.withLockedValue { String(buffer: $0) } == start + "Host: x\r\n\r\n")
    }

    @Test func aConnectionThatSendsNothingDecisiveIsClosedAtTheDeadline() throws {
        let (channel, decision, _) = try Self.channel(timeout: .seconds(2))
        try channel.writeInbound(ByteBuffer(string: "PRI *"))
        channel.embeddedEventLoop.advanceTime(by: .milliseconds(1999))
        #expect(channel.isActive)
        channel.embeddedEventLoop.advanceTime(by: .milliseconds(1))
        #expect(!channel.isActive)
        #expect(decision.isHTTP2.withLockedValue { $0 } == nil)
    }
}
