import NIOCore
import Testing

@testable import SSEGateway

@Suite("Topics compare byte for byte")
struct TopicBytewiseTests {
    // MARK: Units

    @Test func utf8KeysCompareAndHashBytes() {
        let composed = "caf\u{E9}"
        let decomposed = "cafe\u{301}"
        #expect(composed == decomposed)
        #expect(UTF8Key(composed) != UTF8Key(decomposed))
        #expect(UTF8Key(composed) == UTF8Key(String(decoding: Array(composed.utf8), as: UTF8.self)))
        // Singleton decompositions make non-ASCII strings equal to ASCII ones: KELVIN SIGN is K, GREEK QUESTION
        // MARK is a semicolon.
        #expect("\u{212A}" == "K")
        #expect("a\u{37E}b" == "a;b")
        #expect(UTF8Key("\u{212A}") != UTF8Key("K"))
        #expect(UTF8Key("a\u{37E}b") != UTF8Key("a;b"))
        let keys: Set<UTF8Key> = [UTF8Key(composed), UTF8Key(decomposed), UTF8Key("\u{212A}"), UTF8Key("K")]
        #expect(keys.count == 4)
        var index: [UTF8Key: Int] = [UTF8Key(composed): 1]
        #expect(index[UTF8Key(decomposed)] == nil)
        index[UTF8Key(decomposed)] = 2
        #expect(index.count == 2)
    }

    @Test(arguments: SpellingPair.all)
    func selectorsTellTheSpellingsApart(pair: SpellingPair) {
        let first = SpellingPair.url(pair.first)
        let second = SpellingPair.url(pair.second)
        #expect(TopicSelector(first).matches(first))
        #expect(!TopicSelector(first).matches(second))
        #expect(!TopicSelector(second).matches(first))
        #expect(TopicSelector(first) != TopicSelector(second))
        #expect(Set([TopicSelector(first), TopicSelector(second)]).count == 2)
        let firstTemplate = SpellingPair.url(pair.first, prefix: "{x}/")
        let secondTemplate = SpellingPair.url(pair.second, prefix: "{x}/")
        #expect(TopicSelector(firstTemplate).matches(SpellingPair.url(pair.first, prefix: "1/")))
        #expect(!TopicSelector(firstTemplate).matches(SpellingPair.url(pair.second, prefix: "1/")))
        #expect(!TopicSelector(secondTemplate).matches(SpellingPair.url(pair.first, prefix: "1/")))
        let claims = SubscriberClaims(subscribe: [TopicSelector(first)])
        #expect(claims.allowsPrivate(topics: [first]))
        #expect(!claims.allowsPrivate(topics: [second]))
        #expect(SubscriberClaims(subscribe: [TopicSelector(second)]) != claims)
    }

    @Test func publishRequestsCompareBytes() throws {
        let composed = PublishRequest(topics: ["caf\u{E9}"], data: "caf\u{E9}", id: "caf\u{E9}")
        #expect(composed == PublishRequest(topics: ["caf\u{E9}"], data: "caf\u{E9}", id: "caf\u{E9}"))
        #expect(composed != PublishRequest(topics: ["cafe\u{301}"], data: "caf\u{E9}", id: "caf\u{E9}"))
        #expect(composed != PublishRequest(topics: ["caf\u{E9}"], data: "cafe\u{301}", id: "caf\u{E9}"))
        #expect(composed != PublishRequest(topics: ["caf\u{E9}"], data: "caf\u{E9}", id: "cafe\u{301}"))
        #expect(composed != PublishRequest(topics: ["caf\u{E9}"], data: "caf\u{E9}", id: nil))
    }

    @Test func theReservedTopicPartIsFoundByBytes() {
        // A combining mark after the reserved part makes its last character "é", which `String.contains` would not
        // see as containing "…/mercure"; its bytes still do.
        let hidden = "https://example.com/.well-known/mercure\u{301}/subscriptions"
        #expect(!hidden.contains("/.well-known/mercure/"))
        #expect(throws: PublishError(status: 403, reason: "Topic is reserved")) {
            try PublishRequest(form: [("topic", hidden)])
        }
        #expect(throws: PublishError(status: 403, reason: "Topic is reserved")) {
            try PublishRequest(form: [("topic", "a"), ("topic", "/.well-known/mercure")])
        }
        #expect(throws: Never.self) {
            try PublishRequest(form: [("topic", "/.well-known/mercur")])
        }
        #expect(UTF8Key.bytes(of: "abc", contain: ""))
        #expect(UTF8Key.bytes(of: "abc", contain: "bc"))
        #expect(!UTF8Key.bytes(of: "ab", contain: "abc"))
    }

    @Test func historyFindsOnlyTheByteIdenticalID() {
        var history = EventHistory(capacity: 10)
        let allocator = ByteBufferAllocator()
        for (sequence, id) in [(1, "caf\u{E9}"), (2, "next"), (3, "cafe\u{301}"), (4, "last")] {
            let chunk = allocator.buffer(string: "x")
            history.append(
                HubEvent(
                    sequence: UInt64(sequence), id: id, topics: ["t"], isPrivate: false, chunk: chunk, payload: chunk))
        }
        #expect(history.events(after: "caf\u{E9}")?.map(\.sequence) == [2, 3, 4])
        #expect(history.events(after: "cafe\u{301}")?.map(\.sequence) == [4])
    }

    // MARK: Live

    @Test(arguments: SpellingPair.all)
    func exactTopicsReachOnlyTheirSpelling(pair: SpellingPair) async throws {
        try await Self.expectDelivery(
            pair: pair,
            selectors: { [SpellingPair.url($0)] },
            topic: { SpellingPair.url($0) })
    }

    @Test(arguments: SpellingPair.all)
    func templatesMatchOnlyTheirSpelling(pair: SpellingPair) async throws {
        try await Self.expectDelivery(
            pair: pair,
            selectors: { [SpellingPair.url($0, prefix: "{x}/")] },
            topic: { SpellingPair.url($0, prefix: "42/") })
    }

    @Test(arguments: SpellingPair.all)
    func anExactAndATemplateSubscriberOfOneSpellingBothMissTheOther(pair: SpellingPair) async throws {
        // The exact index and the template path side by side on one stream.
        try await Self.expectDelivery(
            pair: pair,
            selectors: { [SpellingPair.url($0), SpellingPair.url($0, prefix: "{x}/")] },
            topic: { SpellingPair.url($0, prefix: "7/") })
    }

    /// Subscribes one stream per spelling with `selectors(spelling)` plus the marker, publishes to `topic` of each
    /// spelling in turn, each followed by a marker that both streams take, and checks that each update reached only
    /// the stream of its own spelling: events on one stream arrive in order, so the marker proves the absence.
    static func expectDelivery(
        pair: SpellingPair,
        selectors: (String) -> [String],
        topic: (String) -> String,
        sourceLocation: SourceLocation = #_sourceLocation
    ) async throws {
        try await TestGateway.run { _, port in
            let first = try await TestSubscriber.open(
                port: port, query: SpellingPair.query(selectors(pair.first) + [SpellingPair.marker]))
            let second = try await TestSubscriber.open(
                port: port, query: SpellingPair.query(selectors(pair.second) + [SpellingPair.marker]))
            let publisher = try await TestPublisher.connect(port: port)
            #expect(try await publisher.publish([("topic", topic(pair.first)), ("id", "to-first")]).status == 200)
            #expect(try await publisher.publish([("topic", SpellingPair.marker), ("id", "marker-1")]).status == 200)
            try await first.waitForEvents(2)
            try await second.waitForEvents(1)
            #expect(try await first.ids() == ["to-first", "marker-1"], sourceLocation: sourceLocation)
            #expect(try await second.ids() == ["marker-1"], sourceLocation: sourceLocation)

            #expect(try await publisher.publish([("topic", topic(pair.second)), ("id", "to-second")]).status == 200)
            #expect(try await publisher.publish([("topic", SpellingPair.marker), ("id", "marker-2")]).status == 200)
            try await first.waitForEvents(3)
            try await second.waitForEvents(3)
            #expect(try await first.ids() == ["to-first", "marker-1", "marker-2"], sourceLocation: sourceLocation)
            #expect(try await second.ids() == ["marker-1", "to-second", "marker-2"], sourceLocation: sourceLocation)
        }
    }
}
