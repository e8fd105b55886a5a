import NIOCore
import Testing

@testable import SSEGateway

@Suite("ServerSentEvent framing")
struct ServerSentEventTests {
    private func encoded(_ event: ServerSentEvent) -> String {
        var buffer = ByteBuffer()
        event.encode(into: &buffer)
        #expect(buffer.readableBytes == event.encodedSize, "encodedSize must be exact")
        return buffer.readString(length: buffer.readableBytes) ?? "<invalid UTF-8>"
    }

    @Test func emptyDataStillHasOneDataLine() {
        #expect(encoded(ServerSentEvent(data: "")) == "data: \n\n")
    }

    @Test func singleLine() {
        #expect(encoded(ServerSentEvent(data: "hello")) == "data: hello\n\n")
    }

    @Test(
        "Line breaks split into data lines",
        arguments: [
            ("a\nb", "data: a\ndata: b\n\n"),
            ("a\rb", "data: a\ndata: b\n\n"),
            ("a\r\nb", "data: a\ndata: b\n\n"),
            ("a\r\n\rb\n\r\nc", "data: a\ndata: \ndata: b\ndata: \ndata: c\n\n"),
            ("a\n\rb", "data: a\ndata: \ndata: b\n\n"),
            ("\n", "data: \ndata: \n\n"),
            ("\n\n", "data: \ndata: \ndata: \n\n"),
            ("\r\n", "data: \ndata: \n\n"),
            ("\r", "data: \ndata: \n\n"),
            ("a\n", "data: a\ndata: \n\n"),
            ("\na", "data: \ndata: a\n\n"),
            ("  indented\n    more", "data:   indented\ndata:     more\n\n"),
        ]
    )
    func lineBreaks(data: String, expected: String) {
        #expect(encoded(ServerSentEvent(data: data)) == expected)
    }

    @Test func nonASCIIPassesThroughUnchanged() {
        let event = ServerSentEvent(id: "ïd", type: "tÿpe", data: "héllo ✓ 日本")
        var buffer = ByteBuffer()
        event.encode(into: &buffer)
        let expected = Array("event: tÿpe\nid: ïd\ndata: héllo ✓ 日本\n\n".utf8)
        #expect(buffer.readableBytesView.elementsEqual(expected))
        #expect(buffer.readableBytes == event.encodedSize)
    }

    @Test func fieldOrderIsEventRetryIdData() {
        let event = ServerSentEvent(id: "urn:uuid:1", type: "update", retry: 1500, data: "x")
        #expect(encoded(event) == "event: update\nretry: 1500\nid: urn:uuid:1\ndata: x\n\n")
    }

    @Test func retryZeroAndNilAreOmitted() {
        #expect(encoded(ServerSentEvent(id: "1", retry: 0, data: "x")) == "id: 1\ndata: x\n\n")
        #expect(encoded(ServerSentEvent(id: "1", retry: nil, data: "x")) == "id: 1\ndata: x\n\n")
    }

    @Test(arguments: [UInt64(1), 9, 10, 99, 100, 1_000_000, UInt64.max])
    func retryDigits(value: UInt64) {
        #expect(encoded(ServerSentEvent(retry: value, data: "")) == "retry: \(value)\ndata: \n\n")
    }

    @Test func emptyTypeIsOmittedButEmptyIdIsWritten() {
        // An empty id is meaningful: it resets the client's last event id.
        #expect(encoded(ServerSentEvent(id: "", type: "", data: "x")) == "id: \ndata: x\n\n")
    }

    @Test func lineBreaksInIdAndTypeCannotInjectFields() {
        let event = ServerSentEvent(id: "1\ndata: evil\n\nid: 2", type: "a\r\nretry: 1\0", data: "ok")
        #expect(encoded(event) == "event: a  retry: 1 \nid: 1 data: evil  id: 2\ndata: ok\n\n")
    }

    @Test func encodedMatchesEncodeInto() {
        let event = ServerSentEvent(id: "7", type: "t", retry: 3, data: "a\nb")
        let buffer = event.encoded()
        let expected = "event: t\nretry: 3\nid: 7\ndata: a\ndata: b\n\n"
        #expect(buffer.getString(at: 0, length: buffer.readableBytes) == expected)
    }

    @Test func appendsAfterExistingBytes() {
        var buffer = ByteBuffer(string: "prefix|")
        ServerSentEvent(data: "x").encode(into: &buffer)
        #expect(buffer.readString(length: buffer.readableBytes) == "prefix|data: x\n\n")
    }
}

@Suite("SSE comments")
struct SSECommentTests {
    private func encoded(_ text: String, terminated: Bool = false) -> String {
        var buffer = ByteBuffer()
        SSEComment.encode(text, into: &buffer, terminated: terminated)
        return buffer.readString(length: buffer.readableBytes) ?? ""
    }

    @Test func emptyCommentIsBareColon() {
        #expect(encoded("") == ":\n")
    }

    @Test func textComment() {
        #expect(encoded("keep-alive") == ": keep-alive\n")
    }

    @Test func multiLineCommentNeverWritesABlankLine() {
        #expect(encoded("a\nb\r\nc\rd") == ": a\n: b\n: c\n: d\n")
        #expect(encoded("a\n\nb") == ": a\n:\n: b\n")
        #expect(!encoded("x\n\n\n").contains("\n\n"))
    }

    @Test func terminatedVariantAddsBlankLine() {
        #expect(encoded("", terminated: true) == ":\n\n")
        #expect(encoded("hi", terminated: true) == ": hi\n\n")
    }
}

@Suite("Chunked framing")
struct ChunkedFrameTests {
    /// A strict decoder for a sequence of chunks (RFC 9112 §7.1, without extensions or trailers).
    private func decodeChunks(_ buffer: ByteBuffer) throws -> (payloads: [[UInt8]], ended: Bool) {
        struct Malformed: Error {}
        let bytes = Array(buffer.readableBytesView)
        var index = 0
        var payloads: [[UInt8]] = []
        while index < bytes.count {
            var size = 0
            var digits = 0
            while index < bytes.count, let value = Int(String(UnicodeScalar(bytes[index])), radix: 16) {
                size = size * 16 + value
                digits += 1
                index += 1
            }
            guard digits > 0, index + 1 < bytes.count, bytes[index] == 13, bytes[index + 1] == 10 else {
                throw Malformed()
            }
            index += 2
            if size == 0 {
                guard index + 1 < bytes.count, bytes[index] == 13, bytes[index + 1] == 10,
                    index + 2 == bytes.count
                else {
                    throw Malformed()
                }
                return (payloads, true)
            }
            guard index + size + 2 <= bytes.count, bytes[index + size] == 13, bytes[index + size + 1] == 10 else {
                throw Malformed()
            }
            payloads.append(Array(bytes[index..<index + size]))
            index += size + 2
        }
        return (payloads, false)
    }

    @Test func frameWrapsPayloadWithMinimalHexSize() throws {
        let payload = ByteBuffer(string: String(repeating: "x", count: 26))
        let framed = ChunkedFrame.frame(payload, allocator: ByteBufferAllocator())
        #expect(framed.getString(at: 0, length: 4) == "1a\r\n")
        let decoded = try decodeChunks(framed)
        #expect(decoded.payloads == [Array(repeating: UInt8(ascii: "x"), count: 26)])
        #expect(!decoded.ended)
    }

    @Test func frameOfEmptyPayloadIsEmptyRatherThanATerminator() {
        let framed = ChunkedFrame.frame(ByteBuffer(), allocator: ByteBufferAllocator())
        #expect(framed.readableBytes == 0)
    }

    @Test func frameRespectsReaderIndex() throws {
        var payload = ByteBuffer(string: "skipme:data")
        payload.moveReaderIndex(forwardBy: 7)
        let decoded = try decodeChunks(ChunkedFrame.frame(payload, allocator: ByteBufferAllocator()))
        #expect(decoded.payloads == [Array("data".utf8)])
    }

    @Test func terminatorEndsTheBody() throws {
        #expect(ChunkedFrame.terminator == ByteBuffer(string: "0\r\n\r\n"))
        var stream = ChunkedFrame.frame(ByteBuffer(string: "a"), allocator: ByteBufferAllocator())
        var terminator = ChunkedFrame.terminator
        stream.writeBuffer(&terminator)
        let decoded = try decodeChunks(stream)
        #expect(decoded.ended)
        #expect(decoded.payloads == [[UInt8(ascii: "a")]])
    }

    @Test(
        arguments: [
            ServerSentEvent(data: ""),
            ServerSentEvent(id: "urn:uuid:x", type: "t", retry: 10, data: "a\r\nb\rc\nd"),
            ServerSentEvent(data: "héllo ✓ 日本"),
        ]
    )
    func frameEventRoundTrips(event: ServerSentEvent) throws {
        try checkFrameEventRoundTrip(event)
    }

    @Test func largeFrameEventRoundTrips() throws {
        try checkFrameEventRoundTrip(ServerSentEvent(data: String(repeating: "0123456789abcdef\n", count: 5000)))
    }

    private func checkFrameEventRoundTrip(_ event: ServerSentEvent) throws {
        let framed = ChunkedFrame.frameEvent(event, allocator: ByteBufferAllocator())
        // Fixed-width, zero-padded size field.
        let sizeField = try #require(framed.getString(at: 0, length: 8))
        #expect(framed.getString(at: 8, length: 2) == "\r\n")
        #expect(Int(sizeField, radix: 16) == event.encodedSize)
        let decoded = try decodeChunks(framed)
        #expect(decoded.payloads == [Array(event.encoded().readableBytesView)])
        #expect(!decoded.ended)
    }

    @Test func frameEventHeaderBytes() {
        let framed = ChunkedFrame.frameEvent(ServerSentEvent(data: "hi"), allocator: ByteBufferAllocator())
        #expect(framed.getString(at: 0, length: framed.readableBytes) == "0000000a\r\ndata: hi\n\n\r\n")
    }

    @Test func multipleEventsThenTerminatorDecodeInOrder() throws {
        var stream = ByteBuffer()
        let events = (0..<20).map { ServerSentEvent(id: "\($0)", data: String(repeating: "z", count: $0 * 37)) }
        for event in events {
            var framed = ChunkedFrame.frameEvent(event, allocator: ByteBufferAllocator())
            stream.writeBuffer(&framed)
        }
        var terminator = ChunkedFrame.terminator
        stream.writeBuffer(&terminator)
        let decoded = try decodeChunks(stream)
        #expect(decoded.ended)
        #expect(decoded.payloads == events.map { Array($0.encoded().readableBytesView) })
    }
}
