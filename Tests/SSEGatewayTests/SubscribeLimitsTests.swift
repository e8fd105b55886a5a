import Testing

@testable import SSEGateway

@Suite("Subscribe limits")
struct SubscribeLimitsTests {
    let limits = SubscribeLimits(maxSelectors: 3, maxSelectorBytes: 40, maxTemplateExpressions: 2)

    @Test func selectorsWithinTheLimitsAreParsedInOrder() {
        let raw = ["https://example.com/a", "https://example.com/{a}/{b}", "*"]
        #expect(self.limits.check(raw) == .accepted(raw.map(TopicSelector.init)))
        guard case .accepted(let parsed) = self.limits.check(raw) else {
            Issue.record("refused")
            return
        }
        #expect(parsed.map(\.isExact) == [true, false, false])
        #expect(parsed.map(\.isTemplate) == [false, true, false])
    }

    @Test func tooManySelectors() {
        #expect(self.limits.check(["a", "b", "c"]) == .accepted(["a", "b", "c"].map(TopicSelector.init)))
        #expect(self.limits.check(["a", "b", "c", "d"]) == .rejected(#"Too many "topic" parameters (max 3)"#))
    }

    @Test func tooLongASelectorCountingUTF8Bytes() {
        let fits = String(repeating: "a", count: 38) + "\u{E9}"
        #expect(fits.utf8.count == 40)
        #expect(self.limits.check(["x", fits]) == .accepted(["x", fits].map(TopicSelector.init)))
        #expect(
            self.limits.check(["x", fits + "a"]) == .rejected("topic selector 2 is 41 bytes long (max 40)"))
        // Exact selectors are bounded too.
        #expect(
            self.limits.check([String(repeating: "b", count: 41)])
                == .rejected("topic selector 1 is 41 bytes long (max 40)"))
    }

    @Test func everyVariableCountsAsAnExpression() {
        #expect(self.limits.check(["/{a}/{b}"]) == .accepted([TopicSelector("/{a}/{b}")]))
        #expect(self.limits.check(["{?a,b}"]) == .accepted([TopicSelector("{?a,b}")]))
        let reason = "topic selector 3 has 3 expressions, counting each variable (max 2)"
        #expect(self.limits.check(["a", "/{a}/{b}", "/{a}/{b}/{c}"]) == .rejected(reason))
        #expect(self.limits.check(["a", "b", "{?a,b,c}"]) == .rejected(reason))
        #expect(self.limits.check(["a", "b", "{a}{+b}{#c}"]) == .rejected(reason))
        // An invalid template is an exact selector, matched by equality, whatever its braces.
        #expect(self.limits.check(["{a}{b}{c}{"]) == .accepted([TopicSelector("{a}{b}{c}{")]))
        #expect(TopicSelector("{a}{b}{c}{").templateVariableCount == 0)
        #expect(TopicSelector("{/a,b*,c:3}").templateVariableCount == 3)
    }

    @Test func noTemplatesAtAllWithZeroExpressions() {
        let exactOnly = SubscribeLimits(maxSelectors: 10, maxSelectorBytes: 100, maxTemplateExpressions: 0)
        #expect(exactOnly.check(["https://example.com/a", "*"]).isAccepted)
        #expect(
            exactOnly.check(["https://example.com/{a}"])
                == .rejected("topic selector 1 has 1 expressions, counting each variable (max 0)"))
    }

    @Test func theConfigurationSectionSetsTheLimits() {
        var configuration = GatewayConfiguration.Hub.Subscribe()
        configuration.maxSelectors = 7
        configuration.maxTemplateSelectors = 6
        configuration.maxSelectorBytes = 8
        configuration.maxTemplateExpressions = 9
        #expect(
            SubscribeLimits(configuration)
                == SubscribeLimits(
                    maxSelectors: 7, maxTemplateSelectors: 6, maxSelectorBytes: 8, maxTemplateExpressions: 9))
    }

    @Test func exactTopicsMayOutnumberTemplates() {
        let limits = SubscribeLimits(
            maxSelectors: 10, maxTemplateSelectors: 2, maxSelectorBytes: 100, maxTemplateExpressions: 2)
        let exact = (0..<8).map { "https://example.com/\($0)" }
        #expect(limits.check(exact + ["https://example.com/{a}", "*"]).isAccepted)
        #expect(
            limits.check(exact.prefix(5) + ["/{a}", "/{b}", "*"])
                == .rejected(
                    "Too many template or \"*\" selectors (max 2); exact topics may number up to 10"))
    }
}

extension SubscribeLimits.Outcome {
    fileprivate var isAccepted: Bool {
        if case .accepted = self { return true }
        return false
    }
}
