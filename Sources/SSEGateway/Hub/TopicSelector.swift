/// What a subscriber or a JWT claim names to select topics: `*`, an exact topic, or an RFC 6570 URI template.
///
/// Selectors are matched against every topic of every update for every subscriber, so the template is compiled
/// once here and `matches(_:)` allocates nothing for ordinary topic lengths.
public struct TopicSelector: Sendable, Hashable {
    /// The selector as it was received, which is also how two selectors are compared.
    public let raw: String
    /// True when only the byte-identical topic can match, so callers can index the selector by its raw bytes
    /// (`UTF8Key`, never `String`, whose equality would also match other normalisations).
    ///
    /// That holds for every selector except `*` and valid URI templates; a string with a `{` that is not a valid
    /// template is exact too, because such a selector only matches by equality.
    public let isExact: Bool
    private let matchesEverything: Bool
    private let template: URITemplate?

    /// Parses `raw`; there is no failure case, since anything that is not a valid template is an exact selector.
    public init(_ raw: String) {
        self.raw = raw
        matchesEverything = raw.utf8.count == 1 && raw.utf8.first == UInt8(ascii: "*")
        if !matchesEverything && raw.utf8.contains(UInt8(ascii: "{")) {
            template = URITemplate(raw)
        } else {
            template = nil
        }
        isExact = !matchesEverything && template == nil
    }

    /// True when the selector is a valid URI template, matched by pattern rather than by equality.
    public var isTemplate: Bool {
        template != nil
    }

    /// The variables of the template over all its expressions (`{a,b}` has two), or 0 for any other selector: what
    /// matching it costs grows with them, so subscribe requests are limited on it.
    var templateVariableCount: Int {
        template?.variableCount ?? 0
    }

    /// Whether `topic` is selected: by `*`, by byte-for-byte equality, or by matching the whole template.
    ///
    /// Template variables may be empty or undefined, so `/foo/{bar}` selects `/foo/`; a simple `{var}` never
    /// spans a `/`, `?`, `#`, `&` or `=`, while `{+var}` and `{#var}` span anything a URI may contain.
    ///
    /// Equality is on UTF-8 bytes rather than Swift's canonical string equivalence, as in the Mercure hub, so
    /// differently normalised spellings of a topic are different topics.
    public func matches(_ topic: String) -> Bool {
        if matchesEverything || UTF8Key.sameBytes(raw, topic) {
            return true
        }
        guard let template else {
            return false
        }
        return template.matches(topic)
    }

    /// Byte-wise, like `matches(_:)`, so equal selectors always select the same topics.
    public static func == (lhs: TopicSelector, rhs: TopicSelector) -> Bool {
        UTF8Key.sameBytes(lhs.raw, rhs.raw)
    }

    public func hash(into hasher: inout Hasher) {
        UTF8Key.hashBytes(of: raw, into: &hasher)
    }
}
