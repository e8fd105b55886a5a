import Testing

@testable import SSEGateway

@Suite("Topic selectors")
struct TopicSelectorTests {
    private func expectMatch(
        _ selector: String,
        _ topic: String,
        _ expected: Bool,
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        #expect(
            TopicSelector(selector).matches(topic) == expected,
            "\(selector) vs \(topic)",
            sourceLocation: sourceLocation
        )
    }

    @Test func starMatchesEverything() {
        let selector = TopicSelector("*")
        #expect(selector.matches("https://example.com/anything"))
        #expect(selector.matches(""))
        #expect(selector.matches("{weird}"))
        #expect(!selector.isExact)
        #expect(!selector.isTemplate)
    }

    @Test func exactSelectors() {
        let selector = TopicSelector("https://example.com/books/1")
        #expect(selector.isExact)
        #expect(selector.matches("https://example.com/books/1"))
        #expect(!selector.matches("https://example.com/books/12"))
        #expect(!selector.matches("https://example.com/books/"))
        #expect(!selector.matches("https://example.com/Books/1"))
        expectMatch("foo", "foo", true)
        expectMatch("foo", "fo", false)
        expectMatch("", "", true)
        expectMatch("", "a", false)
        expectMatch("**", "abc", false)
    }

    @Test func exactMatchIsByteWise() {
        let composed = "caf\u{E9}"
        let decomposed = "cafe\u{301}"
        #expect(composed == decomposed)  // Swift's canonical equivalence…
        expectMatch(composed, decomposed, false)  // …is not topic equality.
        expectMatch(composed, composed, true)
        #expect(TopicSelector(composed) != TopicSelector(decomposed))
    }

    @Test func simpleVariable() {
        let template = "https://example.com/books/{id}"
        #expect(TopicSelector(template).isTemplate)
        #expect(!TopicSelector(template).isExact)
        expectMatch(template, "https://example.com/books/1", true)
        expectMatch(template, "https://example.com/books/abc%20d", true)
        expectMatch(template, "https://example.com/books/a-b.c_d~e,f", true)
        expectMatch(template, "https://example.com/books/1/2", false)
        expectMatch(template, "https://example.com/book/1", false)
        expectMatch(template, "https://example.com/books/1?x=2", false)
        expectMatch(template, "https://example.com/books/1#frag", false)
        expectMatch(template, "https://example.com/books/a=b", false)
        expectMatch(template, "https://example.com/books/a&b", false)
        expectMatch(template, "https://example.com/books/a b", false)
        expectMatch(template, "https://example.com/books/%2", false)
        expectMatch(template, "https://example.com/books/%zz", false)
        expectMatch(template, "http://example.com/books/1", false)
    }

    @Test func emptyValueMatches() {
        // An empty (or undefined) variable expands to nothing, so the bare prefix is a valid expansion.
        expectMatch("/foo/{bar}", "/foo/", true)
        expectMatch("/foo/{bar}", "/foo", false)
        expectMatch("/foo/{bar}/baz", "/foo//baz", true)
    }

    @Test func nonASCIIValues() {
        expectMatch("https://example.com/tags/{tag}", "https://example.com/tags/日本", true)
        expectMatch("https://example.com/tags/{tag}", "https://example.com/tags/café", true)
        expectMatch("https://example.com/日本/{tag}", "https://example.com/日本/x", true)
        expectMatch("https://example.com/日本/{tag}", "https://example.com/日/x", false)
    }

    @Test func variablesBetweenLiterals() {
        let template = "https://example.com/users/{user}/books/{book}"
        expectMatch(template, "https://example.com/users/kevin/books/42", true)
        expectMatch(template, "https://example.com/users/kevin/books/", true)
        expectMatch(template, "https://example.com/users/kevin/x/books/42", false)
        expectMatch(template, "https://example.com/users/kevin/books/42/", false)
        expectMatch("{a}-{b}", "x-y-z", true)  // '-' is unreserved, so "x-y" or "y-z" can be a value
        expectMatch("{a}/{b}", "x/y/z", false)
    }

    @Test func multipleVariablesInSimpleExpression() {
        expectMatch("/map?{x,y}", "/map?1024,768", true)
        expectMatch("/map?{x,y}", "/map?", true)
        expectMatch("/map?{x,y}", "/map?1/2", false)
    }

    @Test func reservedExpansion() {
        expectMatch("https://example.com/{+path}", "https://example.com/a/b/c", true)
        expectMatch("https://example.com/{+path}", "https://example.com/a/b?c=d&e=f#g", true)
        expectMatch("https://example.com/{+path}", "https://example.com/", true)
        expectMatch("https://example.com/{+path}", "https://example.com", false)
        expectMatch("https://example.com/{+path}", "https://example.com/a b", false)
        expectMatch("https://example.com/{+path}", "https://example.com/a\"b", false)
        expectMatch("{+base}/books/{id}", "https://example.com/books/1", true)
        expectMatch("{+base}/books/{id}", "https://example.com/books/1/2", false)
    }

    @Test func fragmentExpansion() {
        expectMatch("/page{#section}", "/page#intro", true)
        expectMatch("/page{#section}", "/page#a/b?c", true)
        expectMatch("/page{#section}", "/page", true)
        expectMatch("/page{#section}", "/page#", true)
        expectMatch("/page{#section}", "/pagex", false)
    }

    @Test func labelExpansion() {
        expectMatch("example{.tld}", "example.com", true)
        expectMatch("example{.tld}", "example", true)
        expectMatch("example{.tld*}", "example.co.uk", true)
        expectMatch("example{.tld}", "example.c/m", false)
        expectMatch("example{.tld}", "examplecom", false)
    }

    @Test func pathSegments() {
        expectMatch("/files{/path}", "/files/a", true)
        expectMatch("/files{/path}", "/files", true)
        expectMatch("/files{/path}", "/files/a/b", false)
        expectMatch("/files{/path*}", "/files/a/b/c", true)
        expectMatch("/files{/path*}", "/files/a//c", true)
        expectMatch("/files{/path*}", "/files/a/b?c", false)
        expectMatch("/files{/dir,name}", "/files/a/b", true)
        expectMatch("/files{/dir,name}", "/files/a/b/c", false)
        expectMatch("/files{/path*}/meta", "/files/a/b/meta", true)
        expectMatch("/files{/path*}/meta", "/files/a/b/meta/x", false)
    }

    @Test func pathParameters() {
        expectMatch("/doc{;v}", "/doc;v=2", true)
        expectMatch("/doc{;v}", "/doc;v", true)
        expectMatch("/doc{;v}", "/doc", true)
        expectMatch("/doc{;v}", "/doc;w=2", false)
        expectMatch("/doc{;x,y}", "/doc;x=1;y=2", true)
        expectMatch("/doc{;x,y}", "/doc;y=2", true)
        expectMatch("/doc{;x,y}", "/doc;y=2;x=1", false)
        expectMatch("/doc{;params*}", "/doc;a=1;b=2;c", true)
    }

    @Test func queryExpansion() {
        let template = "https://example.com/users/{id}{?fields}"
        expectMatch(template, "https://example.com/users/5?fields=name", true)
        expectMatch(template, "https://example.com/users/5", true)
        expectMatch(template, "https://example.com/users/5?fields=", true)
        expectMatch(template, "https://example.com/users/5?fields=name,email", true)
        expectMatch(template, "https://example.com/users/5?other=name", false)
        expectMatch(template, "https://example.com/users/5?fields=a/b", false)
        expectMatch(template, "https://example.com/users/5/6?fields=a", false)

        expectMatch("/search{?q,lang}", "/search?q=cat&lang=en", true)
        expectMatch("/search{?q,lang}", "/search?lang=en", true)
        expectMatch("/search{?q,lang}", "/search?lang=en&q=cat", false)
        expectMatch("/search{?q,lang}", "/search?q=cat&lang=en&x=1", false)
        expectMatch("/search{?params*}", "/search?a=1&b=2&c=3", true)
        expectMatch("/search{?q}{&page}", "/search?q=x&page=2", true)
        expectMatch("/search{?q}{&page}", "/search&page=2", true)
        expectMatch("/search?fixed=1{&page}", "/search?fixed=1&page=2", true)
        expectMatch("/search?fixed=1{&page}", "/search?fixed=1&other=2", false)
    }

    @Test func modifiersAreAccepted() {
        expectMatch("/u/{name:3}", "/u/abc", true)
        expectMatch("/u/{name*}", "/u/a,b,c", true)
        #expect(TopicSelector("/u/{name:9999}").isTemplate)
        #expect(TopicSelector("/u/{var.name}").isTemplate)
        #expect(TopicSelector("/u/{a%20b}").isTemplate)
    }

    @Test(
        "Invalid templates only match by equality",
        arguments: [
            "/books/{id", "/books/{}", "/books/{id}}", "/books/{=id}", "/books/{!id}", "/books/{id:0}",
            "/books/{id:10000}", "/books/{id*:3}", "/books/{a b}", "/books/{.}", "/books/{a.}", "/books/{a..b}",
            "/books /{id}", "/books/%zz{id}", "/books/{a%2}", "/books/{{id}}", "/books/{id,}", "{",
        ]
    )
    func invalidTemplates(selector: String) {
        let parsed = TopicSelector(selector)
        #expect(!parsed.isTemplate)
        #expect(parsed.isExact)
        #expect(parsed.matches(selector))
        #expect(!parsed.matches("/books/1"))
    }

    @Test func templateAlsoMatchesItselfVerbatim() {
        expectMatch("/books/{id}", "/books/{id}", true)
    }

    @Test func equalityAndHashingUseRaw() {
        let set: Set<TopicSelector> = [TopicSelector("/a/{b}"), TopicSelector("/a/{b}"), TopicSelector("*")]
        #expect(set.count == 2)
        #expect(TopicSelector("/a/{b}") == TopicSelector("/a/{b}"))
        #expect(TopicSelector("/a/{b}") != TopicSelector("/a/{c}"))
    }

    @Test func adversarialTemplatesFinishQuickly() {
        // Without remembering explored states this is exponential in the number of expressions.
        let selector = TopicSelector(String(repeating: "{a}", count: 40) + "{/b}")
        let topic = String(repeating: "a", count: 300)
        #expect(!selector.matches(topic + "?"))
        #expect(selector.matches(topic + "/b"))
        let segments = TopicSelector("{/a*}{/b*}{/c*}{/d*}{?q}")
        #expect(!segments.matches(String(repeating: "/ab", count: 1000) + "#"))
        #expect(segments.matches(String(repeating: "/ab", count: 1000) + "?q=1"))
    }

    @Test func manyMatchesAreCheap() {
        let selector = TopicSelector("https://example.com/users/{id}/books/{book}{?fields}")
        var hits = 0
        for index in 0..<100_000 {
            if selector.matches("https://example.com/users/\(index % 10)/books/\(index)?fields=a") {
                hits += 1
            }
        }
        #expect(hits == 100_000)
    }
}
