/// The bounds `hub.subscribe` puts on one subscribe request's selectors, checked before the stream opens.
///
/// Every template selector of every stream is matched against every topic of every update on the stream's event
/// loop, so these bounds are what keeps one subscriber from making each publish expensive for everyone on that loop.
/// The check is pure: it parses each selector once and hands the parsed selectors on.
struct SubscribeLimits: Sendable, Equatable {
    /// The answer for one request: its selectors, or why it gets 400.
    enum Outcome: Sendable, Equatable {
        case accepted([TopicSelector])
        case rejected(String)
    }

    var maxSelectors: Int
    var maxTemplateSelectors: Int
    var maxSelectorBytes: Int
    var maxTemplateExpressions: Int

    init(maxSelectors: Int, maxTemplateSelectors: Int? = nil, maxSelectorBytes: Int, maxTemplateExpressions: Int) {
        self.maxSelectors = maxSelectors
        self.maxTemplateSelectors = maxTemplateSelectors ?? maxSelectors
        self.maxSelectorBytes = maxSelectorBytes
        self.maxTemplateExpressions = maxTemplateExpressions
    }

    init(_ configuration: GatewayConfiguration.Hub.Subscribe) {
        self.init(
            maxSelectors: configuration.maxSelectors,
            maxTemplateSelectors: configuration.maxTemplateSelectors,
            maxSelectorBytes: configuration.maxSelectorBytes,
            maxTemplateExpressions: configuration.maxTemplateExpressions
        )
    }

    /// Parses `selectors`, the request's `topic` values in order, or names the first one over a limit (counting
    /// from 1). Sizes are checked before parsing, so an oversized selector is never parsed.
    func check(_ selectors: [String]) -> Outcome {
        guard selectors.count <= self.maxSelectors else {
            return .rejected("Too many \"topic\" parameters (max \(self.maxSelectors))")
        }
        var parsed: [TopicSelector] = []
        parsed.reserveCapacity(selectors.count)
        var templates = 0
        for (index, raw) in selectors.enumerated() {
            let bytes = raw.utf8.count
            guard bytes <= self.maxSelectorBytes else {
                return .rejected("topic selector \(index + 1) is \(bytes) bytes long (max \(self.maxSelectorBytes))")
            }
            let selector = TopicSelector(raw)
            let expressions = selector.templateVariableCount
            guard expressions <= self.maxTemplateExpressions else {
                return .rejected(
                    "topic selector \(index + 1) has \(expressions) expressions, counting each variable "
                        + "(max \(self.maxTemplateExpressions))")
            }
            if !selector.isExact {
                templates += 1
                guard templates <= self.maxTemplateSelectors else {
                    return .rejected(
                        "Too many template or \"*\" selectors (max \(self.maxTemplateSelectors)); exact topics may "
                            + "number up to \(self.maxSelectors)")
                }
            }
            parsed.append(selector)
        }
        return .accepted(parsed)
    }
}
