import Testing

@testable import SSEGateway

/// The automaton against the backtracking reference on seeded random templates and topics: the same answer for
/// every pair, including `%XX` triplets, exploded and named variables, `{?x,y}` with its first `?` and separator `&`,
/// literals that overlap themselves, and templates with more nodes than a 64-bit word holds.
@Suite("URI template automaton")
struct TemplateAutomatonTests {
    /// SplitMix64: small, fast and the same on every platform, so a failure names a reproducible seed.
    struct SeededGenerator: RandomNumberGenerator {
        var state: UInt64

        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    /// One piece of a random template, kept so that topics can be built that expand it.
    enum Part {
        case literal(String)
        case expression(op: String, names: [String], modifiers: [String])
    }

    static let operators = ["", "+", "#", ".", "/", ";", "?", "&"]
    static let names = ["a", "b", "x", "ab", "v1", "a.b", "q%41"]
    static let modifiers = ["", "", "*", ":3"]
    static let literalPieces = ["a", "b", "ab", "aab", "/", ".", ";", "?", "&", "=", ",", "-", "#", "%41", "é", "x"]
    static let valuePieces = [
        "a", "b", "ab", "x", "1", "%41", "%4", "%", "%zz", "é", ".", "-", ",", "=", "/", ";", "?", "&", "#", "~", "+",
        ":", "@", " ", "\"",
    ]

    static func pick<T>(_ items: [T], _ random: inout SeededGenerator) -> T {
        items[Int(random.next() % UInt64(items.count))]
    }

    static func template(expressions: Int, _ random: inout SeededGenerator) -> [Part] {
        var parts: [Part] = []
        for _ in 0..<expressions {
            if random.next() % 3 != 0 {
                let pieces = 1 + Int(random.next() % 3)
                parts.append(.literal((0..<pieces).map { _ in pick(literalPieces, &random) }.joined()))
            }
            let count = 1 + Int(random.next() % 3)
            parts.append(
                .expression(
                    op: pick(operators, &random),
                    names: (0..<count).map { _ in pick(names, &random) },
                    modifiers: (0..<count).map { _ in pick(modifiers, &random) }
                ))
        }
        if random.next() % 2 == 0 {
            parts.append(.literal(pick(literalPieces, &random)))
        }
        return parts
    }

    static func text(of parts: [Part]) -> String {
        parts.map { part in
            switch part {
            case .literal(let text):
                return text
            case .expression(let op, let names, let modifiers):
                return "{" + op + zip(names, modifiers).map { $0 + $1 }.joined(separator: ",") + "}"
            }
        }.joined()
    }

    /// Value bytes that every class takes, for topics that should mostly match.
    static let cleanValuePieces = ["a", "b", "1", "%41", "é", "-", "~"]

    static func value(clean: Bool, _ random: inout SeededGenerator) -> String {
        (0..<Int(random.next() % 4)).map { _ in pick(clean ? cleanValuePieces : valuePieces, &random) }.joined()
    }

    /// A topic that often expands the template (each variable defined or not, with random values), sometimes with
    /// one piece changed, inserted or removed so that near misses are common; a `clean` one is a mostly valid
    /// expansion, changed once in eight topics.
    static func topic(for parts: [Part], clean: Bool, _ random: inout SeededGenerator) -> String {
        var pieces: [String] = []
        for part in parts {
            switch part {
            case .literal(let text):
                pieces.append(text)
            case .expression(let op, let names, let modifiers):
                let first: String
                let separator: String
                switch op {
                case "", "+": (first, separator) = ("", ",")
                case "#": (first, separator) = ("#", ",")
                case "?": (first, separator) = ("?", "&")
                default: (first, separator) = (op, op)
                }
                var defined = 0
                for (name, modifier) in zip(names, modifiers) where random.next() % 3 != 0 {
                    pieces.append(defined == 0 ? first : separator)
                    defined += 1
                    let items = modifier == "*" ? 1 + Int(random.next() % 3) : 1
                    for item in 0..<items {
                        if item > 0 {
                            pieces.append(separator)
                        }
                        let named = [";", "?", "&"].contains(op)
                        if named || (!clean && modifier == "*" && random.next() % 2 == 0) {
                            pieces.append(modifier == "*" ? pick(Self.names, &random) : name)
                            if random.next() % 4 != 0 {
                                pieces.append("=")
                            }
                        }
                        pieces.append(value(clean: clean, &random))
                    }
                }
            }
        }
        switch random.next() % (clean ? 16 : 4) {
        case 0 where !pieces.isEmpty:
            pieces[Int(random.next() % UInt64(pieces.count))] = pick(valuePieces, &random)
        case 1:
            pieces.insert(pick(valuePieces, &random), at: Int(random.next() % UInt64(pieces.count + 1)))
        case 2 where !pieces.isEmpty:
            pieces.remove(at: Int(random.next() % UInt64(pieces.count)))
        default:
            break
        }
        return pieces.joined()
    }

    /// Checks every pair and returns how many topics matched, so a run can show it tested both answers.
    @discardableResult
    static func compare(
        seed: UInt64,
        templates: Int,
        expressions: ClosedRange<Int>,
        topicsPerTemplate: Int,
        clean: Bool = false,
        sourceLocation: SourceLocation = #_sourceLocation
    ) -> (matched: Int, total: Int) {
        var random = SeededGenerator(state: seed)
        var matched = 0
        var total = 0
        for index in 0..<templates {
            let count = expressions.lowerBound + Int(random.next() % UInt64(expressions.count))
            let parts = template(expressions: count, &random)
            let text = text(of: parts)
            guard let compiled = URITemplate(text) else {
                Issue.record("generated an invalid template \(text)", sourceLocation: sourceLocation)
                continue
            }
            for _ in 0..<topicsPerTemplate {
                let topic = topic(for: parts, clean: clean, &random)
                let expected = BacktrackingTemplateMatcher.matches(compiled, topic)
                let actual = compiled.matches(topic)
                total += 1
                if expected {
                    matched += 1
                }
                if actual != expected {
                    Issue.record(
                        "seed \(seed), template #\(index) \(text) vs \(topic): automaton \(actual), reference \(expected)",
                        sourceLocation: sourceLocation)
                    return (matched, total)
                }
            }
        }
        return (matched, total)
    }

    @Test(arguments: [1, 2, 3, 4] as [UInt64])
    func agreesWithTheReferenceOnSmallTemplates(seed: UInt64) {
        let result = Self.compare(seed: seed, templates: 700, expressions: 1...4, topicsPerTemplate: 12)
        #expect(result.matched > result.total / 10)
        #expect(result.matched < result.total)
    }

    @Test(arguments: [11, 12] as [UInt64])
    func agreesWithTheReferenceAcrossWordBoundaries(seed: UInt64) {
        // 30 to 90 expressions make 40 to 200 nodes: vectors of one to four words, with carries between them.
        let result = Self.compare(seed: seed, templates: 60, expressions: 30...90, topicsPerTemplate: 8, clean: true)
        #expect(result.matched > result.total / 10)
        #expect(result.matched < result.total)
    }

    @Test func agreesOnSelfOverlappingLiterals() {
        // A literal entered at many positions, in a topic that repeats its prefix: the KMP scan and its ring.
        let literals = ["aab", "abab", "aaaa", "abaab", String(repeating: "a", count: 70) + "b"]
        for literal in literals {
            for template in ["{a}\(literal){b}", "{a}\(literal)", "{+a}\(literal){b}\(literal)", "x{/a*}\(literal)"] {
                let compiled = URITemplate(template)!
                for length in stride(from: 0, to: 150, by: 3) {
                    for topic in [
                        String(repeating: "a", count: length), String(repeating: "a", count: length) + "b",
                        String(repeating: "ab", count: length / 2) + "ab", "x/" + String(repeating: "a", count: length),
                        String(repeating: "a", count: length) + literal + "a",
                    ] {
                        #expect(
                            compiled.matches(topic) == BacktrackingTemplateMatcher.matches(compiled, topic),
                            "\(template) vs \(topic)")
                    }
                }
            }
        }
    }

    @Test func agreesOnNamedVariablesAndQueries() {
        let templates = [
            "/search{?q,lang}", "/search{?q}{&page}", "/doc{;x,y}", "/doc{;v}", "/s{?params*}", "/d{;p*}", "{?a,b,c}",
            "/x{?ab}/y", "{&a}{&b}", "{;name}{;name}",
        ]
        let topics = [
            "/search?q=cat&lang=en", "/search?lang=en", "/search?lang=en&q=cat", "/search?q&lang", "/search?q=&lang=",
            "/search&page=2", "/search?q=x&page=2", "/doc;x=1;y=2", "/doc;y=2;x=1", "/doc;v", "/doc;vv=1",
            "/s?a=1&b=2&c", "/d;a=1;b", "?a=1&b=2&c=%41", "?a&c", "/x?ab=1/y", "/x?a/y", "&a=1&b", ";name;name=2",
            ";name=a;name=", "/doc;x=%4", "/doc;x=%41",
        ]
        for template in templates {
            let compiled = URITemplate(template)!
            for topic in topics {
                #expect(
                    compiled.matches(topic) == BacktrackingTemplateMatcher.matches(compiled, topic),
                    "\(template) vs \(topic)")
            }
        }
    }
}

extension TemplateAutomatonTests {
    @Test func agreesOnOneByteLiteralsNextToScannedOnes() {
        // One-byte literals are transitions of their own; longer ones are scanned. Both kinds side by side, in one
        // word and across words.
        let templates = [
            "{+x}ab{a}c{b}", "{a}&{#b}x", "{+x}.é&{a}&{#b}x", "x{a}/{b}.{c}-{d}", "{a}/ab/{b}/",
            (0..<40).map { "{+v\($0)}" + ($0 % 2 == 0 ? "e" : "ee") }.joined() + "{+z}",
        ]
        let topics = [
            "abacb", "a&#bx", ".é&a&#bx", "xa/b.c-d", "x/./.-", "a/ab/b/", "/ab//", String(repeating: "e", count: 90),
            String(repeating: "e", count: 60) + "|", String(repeating: "ee", count: 31), "abab", "&#x",
        ]
        for template in templates {
            let compiled = URITemplate(template)!
            for topic in topics {
                #expect(
                    compiled.matches(topic) == BacktrackingTemplateMatcher.matches(compiled, topic),
                    "\(template) vs \(topic)")
            }
        }
    }
}
