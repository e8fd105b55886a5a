import Testing

@testable import SSEGateway

@Suite("application/x-www-form-urlencoded")
struct FormURLEncodedTests {
    private func parse(_ text: String) throws -> [[String]] {
        try FormURLEncoded.parse(Array(text.utf8)).map { [$0.name, $0.value] }
    }

    @Test func basicPairsInOrderWithRepeats() throws {
        #expect(try parse("topic=a&topic=b&data=x") == [["topic", "a"], ["topic", "b"], ["data", "x"]])
    }

    @Test func emptyInputAndEmptySequences() throws {
        #expect(try parse("").isEmpty)
        #expect(try parse("&&").isEmpty)
        #expect(try parse("a=1&&b=2&") == [["a", "1"], ["b", "2"]])
    }

    @Test func missingEqualsGivesEmptyValue() throws {
        #expect(try parse("private") == [["private", ""]])
        #expect(try parse("private=") == [["private", ""]])
        #expect(try parse("=") == [["", ""]])
        #expect(try parse("=x") == [["", "x"]])
    }

    @Test func onlyFirstEqualsSplits() throws {
        #expect(try parse("a=b=c") == [["a", "b=c"]])
    }

    @Test func plusAndPercentDecoding() throws {
        #expect(try parse("data=hello+world%21") == [["data", "hello world!"]])
        #expect(try parse("a%2Bb=c%2bd") == [["a+b", "c+d"]])
        #expect(try parse("x=%26%3D") == [["x", "&="]])
        #expect(try parse("x=line1%0D%0Aline2") == [["x", "line1\r\nline2"]])
        #expect(try parse("x=%e6%97%a5%E6%9C%AC") == [["x", "日本"]])
    }

    @Test func invalidPercentSequencesStayLiteral() throws {
        #expect(try parse("x=%") == [["x", "%"]])
        #expect(try parse("x=%2") == [["x", "%2"]])
        #expect(try parse("x=%zz") == [["x", "%zz"]])
        #expect(try parse("x=100%25%") == [["x", "100%%"]])
        #expect(try parse("x=%%41") == [["x", "%A"]])
    }

    @Test func invalidUTF8BecomesReplacementCharacter() throws {
        #expect(try parse("x=%FF") == [["x", "\u{FFFD}"]])
        #expect(try parse("x=a%C3") == [["x", "a\u{FFFD}"]])
        let raw: [UInt8] = Array("x=".utf8) + [0xC3, 0x28]
        #expect(try FormURLEncoded.parse(raw).map(\.value) == ["\u{FFFD}("])
    }

    @Test func rawUTF8PassesThrough() throws {
        #expect(try parse("data=héllo ✓") == [["data", "héllo ✓"]])
    }

    @Test func fieldLimit() throws {
        let body = Array(repeating: "topic=x", count: 11).joined(separator: "&")
        #expect(throws: FormDecodingError.tooManyFields(limit: 10)) {
            try FormURLEncoded.parse(Array(body.utf8), maxFields: 10)
        }
        #expect(try FormURLEncoded.parse(Array(body.utf8), maxFields: 11).count == 11)
        // Empty sequences do not count against the limit.
        #expect(try FormURLEncoded.parse(Array("a&&&&&&&&&&&&&&&b".utf8), maxFields: 2).count == 2)
    }

    @Test func acceptsSlices() throws {
        let bytes = Array("junk|a=1".utf8)
        let pairs = try FormURLEncoded.parse(bytes[5...])
        #expect(pairs.map(\.name) == ["a"])
        #expect(pairs.map(\.value) == ["1"])
    }

    @Test func decodeComponent() {
        #expect(FormURLEncoded.decodeComponent(Array("a+b%20c%".utf8)) == "a b c%")
    }

    @Test func parseQuerySplitsAtFirstQuestionMark() {
        let (path, query) = FormURLEncoded.parseQuery("/.well-known/mercure?topic=a%2Fb&topic=c?d&lastEventID=x")
        #expect(path == "/.well-known/mercure")
        #expect(query.map(\.name) == ["topic", "topic", "lastEventID"])
        #expect(query.map(\.value) == ["a/b", "c?d", "x"])
    }

    @Test func parseQueryWithoutQueryOrWithFragment() {
        let plain = FormURLEncoded.parseQuery("/a%20b")
        #expect(plain.path == "/a%20b")
        #expect(plain.query.isEmpty)

        let fragment = FormURLEncoded.parseQuery("/p?x=1#y=2")
        #expect(fragment.path == "/p")
        #expect(fragment.query.map(\.value) == ["1"])

        let fragmentOnly = FormURLEncoded.parseQuery("/p#frag?x=1")
        #expect(fragmentOnly.path == "/p")
        #expect(fragmentOnly.query.isEmpty)

        let emptyQuery = FormURLEncoded.parseQuery("/p?")
        #expect(emptyQuery.path == "/p")
        #expect(emptyQuery.query.isEmpty)
    }
}
