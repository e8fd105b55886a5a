import Testing

@testable import SSEGateway

@Suite("Publish form validation")
struct PublishRequestTests {
    private func request(_ pairs: [(String, String)]) throws(PublishError) -> PublishRequest {
        try PublishRequest(form: pairs.map { (name: $0.0, value: $0.1) })
    }

    private func expectError(
        _ pairs: [(String, String)],
        status: Int,
        reason: String,
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        #expect(throws: PublishError(status: status, reason: reason), sourceLocation: sourceLocation) {
            try request(pairs)
        }
    }

    @Test func minimalRequest() throws {
        let parsed = try request([("topic", "https://example.com/books/1")])
        #expect(parsed == PublishRequest(topics: ["https://example.com/books/1"]))
        #expect(parsed.data == "")
        #expect(!parsed.isPrivate)
        #expect(parsed.id == nil)
        #expect(parsed.type == nil)
        #expect(parsed.retry == nil)
    }

    @Test func fullRequest() throws {
        let parsed = try request([
            ("topic", "a"), ("data", "line1\nline2"), ("private", "on"), ("id", "my-id"), ("type", "update"),
            ("retry", "3000"), ("topic", "b"), ("unknown", "ignored"),
        ])
        #expect(
            parsed
                == PublishRequest(
                    topics: ["a", "b"], data: "line1\nline2", isPrivate: true, id: "my-id", type: "update", retry: 3000
                )
        )
    }

    @Test func missingTopic() {
        expectError([], status: 400, reason: #"Missing "topic" parameter"#)
        expectError([("data", "x"), ("topics", "a")], status: 400, reason: #"Missing "topic" parameter"#)
    }

    @Test func emptyTopicValueStillCounts() throws {
        #expect(try request([("topic", "")]).topics == [""])
    }

    @Test func topicLimit() throws {
        let thousand = Array(repeating: ("topic", "t"), count: 1000)
        #expect(try request(thousand).topics.count == 1000)
        expectError(thousand + [("topic", "t")], status: 400, reason: #"Too many "topic" parameters (max 1000)"#)
    }

    @Test func reservedTopics() {
        expectError(
            [("topic", "https://example.com/.well-known/mercure/subscriptions/x")], status: 403,
            reason: "Topic is reserved")
        expectError([("topic", "ok"), ("topic", "/.well-known/mercure")], status: 403, reason: "Topic is reserved")
    }

    @Test func privateWithAnyValue() throws {
        #expect(try request([("topic", "a"), ("private", "")]).isPrivate)
        #expect(try request([("topic", "a"), ("private", "off")]).isPrivate)
        #expect(try !request([("topic", "a"), ("privat", "on")]).isPrivate)
    }

    @Test(arguments: ["a\nb", "a\rb", "a\0b", "\n", "earliest"])
    func invalidID(value: String) {
        expectError([("topic", "a"), ("id", value)], status: 400, reason: #"Invalid "id" parameter"#)
    }

    @Test func idLookalikesAreAllowed() throws {
        #expect(try request([("topic", "a"), ("id", "Earliest")]).id == "Earliest")
        #expect(try request([("topic", "a"), ("id", "#1")]).id == "#1")
    }

    @Test(arguments: ["a\nb", "a\rb", "a\0b"])
    func invalidType(value: String) {
        expectError([("topic", "a"), ("type", value)], status: 400, reason: #"Invalid "type" parameter"#)
    }

    @Test(arguments: ["-1", "+1", " 1", "1 ", "1.5", "abc", "0x10", "18446744073709551616", "1_000"])
    func invalidRetry(value: String) {
        expectError([("topic", "a"), ("retry", value)], status: 400, reason: #"Invalid "retry" parameter"#)
    }

    @Test func retryValues() throws {
        #expect(try request([("topic", "a"), ("retry", "18446744073709551615")]).retry == UInt64.max)
        #expect(try request([("topic", "a"), ("retry", "007")]).retry == 7)
        #expect(try request([("topic", "a"), ("retry", "0")]).retry == nil)
        #expect(try request([("topic", "a"), ("retry", "")]).retry == nil)
    }

    @Test func firstOccurrenceWins() throws {
        let parsed = try request([
            ("topic", "a"), ("data", "first"), ("data", "second"), ("id", "1"), ("id", "2"), ("type", "t1"),
            ("type", "t2"), ("retry", "5"), ("retry", "oops"),
        ])
        #expect(parsed.data == "first")
        #expect(parsed.id == "1")
        #expect(parsed.type == "t1")
        #expect(parsed.retry == 5)
    }

    @Test func laterInvalidDuplicatesAreIgnoredButFirstIsValidated() {
        expectError([("topic", "a"), ("id", "x\ny"), ("id", "fine")], status: 400, reason: #"Invalid "id" parameter"#)
    }

    @Test func emptyIdAndTypeAreAbsent() throws {
        let parsed = try request([("topic", "a"), ("id", ""), ("type", "")])
        #expect(parsed.id == nil)
        #expect(parsed.type == nil)
        // The first, empty id still wins over a later one.
        #expect(try request([("topic", "a"), ("id", ""), ("id", "2")]).id == nil)
    }

    @Test func dataKeepsLineBreaksAndWhitespace() throws {
        #expect(try request([("topic", "a"), ("data", "  x\r\n  y  ")]).data == "  x\r\n  y  ")
    }

    @Test func checksRunInOrder() {
        // Missing topic is reported before anything else is looked at.
        expectError([("id", "a\nb"), ("retry", "x")], status: 400, reason: #"Missing "topic" parameter"#)
        expectError([("topic", "/.well-known/mercure"), ("retry", "x")], status: 403, reason: "Topic is reserved")
    }

    @Test func endToEndFromBody() throws {
        let body = "topic=https%3A%2F%2Fexample.com%2Fbooks%2F1&data=%7B%22a%22%3A1%7D&private=on&id=urn%3Aid"
        let parsed = try PublishRequest(form: FormURLEncoded.parse(Array(body.utf8)))
        #expect(parsed.topics == ["https://example.com/books/1"])
        #expect(parsed.data == #"{"a":1}"#)
        #expect(parsed.isPrivate)
        #expect(parsed.id == "urn:id")
    }
}
