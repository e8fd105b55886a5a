import NIOCore
import Testing

@testable import SSEGateway

@Suite("SSE parser (WHATWG event stream interpretation)")
struct SSEParserTests {
    static func parse(_ text: String) -> [SSEParser.Message] {
        var parser = SSEParser()
        return parser.feed(ByteBuffer(string: text))
    }

    @Test func theSpecificationsExamples() {
        #expect(Self.parse("data: YHOO\ndata: +2\ndata: 10\n\n") == [.init(data: "YHOO\n+2\n10")])
        // "data" alone is an empty data line; the second block has two; the last, never ended, is dropped.
        #expect(Self.parse("data\n\ndata\ndata\n\ndata:") == [.init(data: ""), .init(data: "\n")])
        #expect(Self.parse("data:test\n\ndata: test\n\n") == [.init(data: "test"), .init(data: "test")])
        #expect(
            Self.parse(": test stream\n\ndata: first event\nid: 1\n\ndata:second event\nid\n\ndata:  third event\n\n")
                == [
                    .init(id: "1", data: "first event"), .init(id: "", data: "second event"),
                    .init(data: " third event"),
                ])
    }

    @Test func fieldsAndTheirEdges() {
        #expect(
            Self.parse("event: add\ndata: x\nretry: 1500\nid: 7\n\n") == [
                .init(id: "7", type: "add", data: "x", retry: 1500)
            ])
        #expect(Self.parse("retry: 12a\ndata: x\n\n") == [.init(data: "x")], "retry must be all digits")
        #expect(Self.parse("id: a\u{0}b\ndata: x\n\n") == [.init(data: "x")], "an id with NUL is ignored")
        #expect(Self.parse("unknown: 1\ndata: x\n\n") == [.init(data: "x")])
        #expect(Self.parse("event: only\n\n") == [], "a type alone dispatches nothing")
        #expect(Self.parse("retry: 300\n\n") == [.init(retry: 300)], "kept for a proxy to pass on")
        #expect(Self.parse("id: 9\n\n") == [.init(id: "9")])
        #expect(Self.parse("data:\u{FEFF}x\n\n") == [.init(data: "\u{FEFF}x")], "a BOM is only dropped at the start")
        #expect(Self.parse("\u{FEFF}data: x\n\n") == [.init(data: "x")])
    }

    @Test func everyLineEndingCounts() {
        let expected: [SSEParser.Message] = [.init(id: "1", data: "a\nb"), .init(data: "c")]
        #expect(Self.parse("id: 1\r\ndata: a\r\ndata: b\r\n\r\ndata: c\r\n\r\n") == expected)
        #expect(Self.parse("id: 1\rdata: a\rdata: b\r\rdata: c\r\r") == expected)
        #expect(Self.parse("id: 1\ndata: a\rdata: b\r\n\ndata: c\n\r") == expected)
    }

    @Test func anySplitOfTheBytesGivesTheSameMessages() {
        let text = "\u{FEFF}: hi\r\nevent: e\r\ndata: é€😀\r\nid: x\r\rdata: z\nretry: 5\n\n"
        let bytes = Array(text.utf8)
        let whole = Self.parse(text)
        #expect(whole.count == 2)
        for cut in 0...bytes.count {
            var parser = SSEParser()
            let messages =
                parser.feed(ByteBuffer(bytes: bytes[..<cut])) + parser.feed(ByteBuffer(bytes: bytes[cut...]))
            #expect(messages == whole, "cut at \(cut)")
        }
        var bytewise = SSEParser()
        let oneByOne = bytes.flatMap { bytewise.feed(ByteBuffer(bytes: [$0])) }
        #expect(oneByOne == whole)
    }

    @Test func invalidUTF8BecomesTheReplacementCharacter() {
        var parser = SSEParser()
        let messages = parser.feed(ByteBuffer(bytes: Array("data: a".utf8) + [0xFF] + Array("b\n\n".utf8)))
        #expect(messages == [.init(data: "a\u{FFFD}b")])
    }

    @Test func whatTheGatewayWritesReadsBackAsItWasPublished() {
        let events = [
            ServerSentEvent(id: "urn:1", type: "update", retry: 2000, data: "line one\nline two"),
            ServerSentEvent(id: "2", data: ""),
            ServerSentEvent(data: "crlf\r\nand cr\rend"),
        ]
        var buffer = ByteBuffer()
        for event in events { event.encode(into: &buffer) }
        var parser = SSEParser()
        #expect(
            parser.feed(buffer) == [
                .init(id: "urn:1", type: "update", data: "line one\nline two", retry: 2000),
                .init(id: "2", data: ""),
                .init(data: "crlf\nand cr\nend"),
            ])
    }
}
