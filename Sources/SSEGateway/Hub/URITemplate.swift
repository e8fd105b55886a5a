/// An RFC 6570 (levels 1–4) URI template compiled for matching, not expansion: it answers "could some set of
/// variable values expand this template into exactly this string?".
///
/// Matching is deliberately generous, in the spirit of the Mercure hub's template matcher: every variable may be
/// undefined, prefix lengths (`:N`) are accepted but not enforced, and a value may be empty, so `/foo/{bar}` matches
/// `/foo/`. It is never generous across structure, though: a simple `{var}` cannot match `/`, `?`, `#`, `&` or `=`.
///
/// Matching runs over UTF-8 bytes with ``URITemplateAutomaton``, in time linear in the topic whatever the template,
/// since templates are supplied by subscribers; `matches(_:)` spells out the definition it implements.
///
/// A class, so that a ``TopicSelector`` (kept by every stream, and by value in every array of selectors) holds one
/// reference rather than the whole compiled template inline: an exact selector then costs no more than its string.
final class URITemplate: Sendable {
    /// Which bytes a variable's value may contain once expanded; `%XX` is always allowed, as is any byte ≥ 0x80
    /// since topics may be IRIs.
    enum CharacterClass: UInt8, Sendable {
        /// Unreserved characters plus `,`, the list separator.
        case unreserved
        /// As `unreserved`, plus `=` between the keys and values of named and exploded pairs.
        case named
        /// Unreserved plus all reserved characters, for `{+var}` and `{#var}`.
        case reserved
    }

    enum NodeKind: UInt8, Sendable {
        /// Bytes that must appear verbatim.
        case literal
        /// An optional `first` byte followed by any run of the class: the whole expression collapses to this when
        /// its separator is itself in the class (`{x,y}`, `{+x}`, `{#x}`, `{.x}`).
        case run
        /// One variable of a `/`, `;`, `?` or `&` expression, optional and preceded by `first` or `separator`.
        case variable
    }

    struct Node: Sendable {
        var kind: NodeKind
        /// The literal bytes, or a named variable's name, as a range of `pool`.
        var start: Int
        var count: Int
        /// The byte an expression's first defined variable starts with; 0 when there is none.
        var first: UInt8 = 0
        var separator: UInt8 = 0
        var characterClass: CharacterClass = .unreserved
        var named = false
        var explode = false
        var lastInExpression = false
    }

    /// The parsed template; internal so that tests can check the automaton against a direct reading of the nodes.
    let nodes: [Node]
    let pool: [UInt8]
    /// Expressions (`{…}`) in the template.
    let expressionCount: Int
    /// Variables over all expressions: `{a,b}` has two; each non-collapsing one is a node of its own.
    let variableCount: Int
    private let automaton: URITemplateAutomaton
    private let skipsHead: Bool

    /// Compiles `template`, or returns `nil` when it is not a valid RFC 6570 template.
    init?(_ template: String) {
        var parser = Parser(bytes: Array(template.utf8))
        guard parser.parse() else {
            return nil
        }
        nodes = parser.nodes
        pool = parser.pool
        expressionCount = parser.expressionCount
        variableCount = parser.variableCount
        skipsHead = nodes.first?.kind == .literal
        automaton = URITemplateAutomaton(nodes: nodes, pool: pool, skippingHead: skipsHead)
    }

    /// Whether `string` matches the template as a whole.
    func matches(_ string: String) -> Bool {
        if let result = string.utf8.withContiguousStorageIfAvailable({ matches($0) }) {
            return result
        }
        return Array(string.utf8).withUnsafeBufferPointer { matches($0) }
    }

    /// Whether `input` matches: the set of `(node, started)` states reachable by `match(0, 0, started: false)` of
    /// the definition below, simulated position by position.
    ///
    /// The definition, for `match(index, position, started)`, `started` telling a variable whether an earlier one of
    /// its expression was defined (so whether it begins with `first` or `separator`):
    /// - past the last node: the input must end at `position`;
    /// - a literal: its bytes, then the next node;
    /// - a run: the next node at once (every variable undefined), or an optional `first` then any run of its class,
    ///   then the next node;
    /// - a variable: the next node at once (undefined, `started` kept unless it ends the expression); or its
    ///   delimiter, then, for a named unexploded one, its name and the next node or `=` and a run of its class; for
    ///   the others, a run of its class and, when exploded, more items after each `separator`; then the next node
    ///   with `started` set unless it ends the expression.
    /// A run of a class is any sequence of bytes of the class and `%XX` triplets.
    func matches(_ input: UnsafeBufferPointer<UInt8>) -> Bool {
        nodes.withUnsafeBufferPointer { nodes in
            pool.withUnsafeBufferPointer { pool in
                // Cheap rejections first: most topics fail on a leading or trailing literal.
                if let head = nodes.first, head.kind == .literal {
                    guard Self.hasBytes(pool, head.start, head.count, in: input, at: 0) else {
                        return false
                    }
                }
                if nodes.count > 1, let tail = nodes.last, tail.kind == .literal {
                    guard tail.count <= input.count,
                        Self.hasBytes(pool, tail.start, tail.count, in: input, at: input.count - tail.count)
                    else {
                        return false
                    }
                }
                let start = skipsHead ? nodes[0].count : 0
                return automaton.matches(input, from: start, node: skipsHead ? 1 : 0, nodes: nodes, pool: pool)
            }
        }
    }

    static func hasBytes(
        _ pool: UnsafeBufferPointer<UInt8>,
        _ start: Int,
        _ count: Int,
        in input: UnsafeBufferPointer<UInt8>,
        at position: Int
    ) -> Bool {
        guard position >= 0, position + count <= input.count else {
            return false
        }
        var offset = 0
        while offset < count {
            if pool[start + offset] != input[position + offset] {
                return false
            }
            offset += 1
        }
        return true
    }

    static func isHexDigit(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "A")...UInt8(ascii: "F"),
            UInt8(ascii: "a")...UInt8(ascii: "f"):
            return true
        default:
            return false
        }
    }

    static func isUnreserved(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"),
            UInt8(ascii: "~"):
            return true
        default:
            return false
        }
    }

    static func isReserved(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: ":"), UInt8(ascii: "/"), UInt8(ascii: "?"), UInt8(ascii: "#"), UInt8(ascii: "["),
            UInt8(ascii: "]"), UInt8(ascii: "@"), UInt8(ascii: "!"), UInt8(ascii: "$"), UInt8(ascii: "&"),
            UInt8(ascii: "'"), UInt8(ascii: "("), UInt8(ascii: ")"), UInt8(ascii: "*"), UInt8(ascii: "+"),
            UInt8(ascii: ","), UInt8(ascii: ";"), UInt8(ascii: "="):
            return true
        default:
            return false
        }
    }

    static func isInClass(_ byte: UInt8, _ characterClass: CharacterClass) -> Bool {
        if byte >= 0x80 || isUnreserved(byte) || byte == UInt8(ascii: ",") {
            return true
        }
        switch characterClass {
        case .unreserved:
            return false
        case .named:
            return byte == UInt8(ascii: "=")
        case .reserved:
            return isReserved(byte)
        }
    }
}

// MARK: - Parsing

extension URITemplate {
    private struct Parser {
        let bytes: [UInt8]
        var position = 0
        var nodes: [Node] = []
        var pool: [UInt8] = []
        var expressionCount = 0
        var variableCount = 0

        init(bytes: [UInt8]) {
            self.bytes = bytes
        }

        mutating func parse() -> Bool {
            var literalStart = 0
            while position < bytes.count {
                let byte = bytes[position]
                if byte == UInt8(ascii: "{") {
                    flushLiteral(from: literalStart)
                    guard parseExpression() else {
                        return false
                    }
                    literalStart = pool.count
                } else if byte == UInt8(ascii: "%") {
                    guard hasPercentEncoding(at: position) else {
                        return false
                    }
                    pool.append(contentsOf: bytes[position..<position + 3])
                    position += 3
                } else if Self.isLiteral(byte) {
                    pool.append(byte)
                    position += 1
                } else {
                    return false
                }
            }
            flushLiteral(from: literalStart)
            return true
        }

        private mutating func flushLiteral(from start: Int) {
            if pool.count > start {
                nodes.append(Node(kind: .literal, start: start, count: pool.count - start))
            }
        }

        private func hasPercentEncoding(at index: Int) -> Bool {
            index + 2 < bytes.count && URITemplate.isHexDigit(bytes[index + 1])
                && URITemplate.isHexDigit(bytes[index + 2])
        }

        /// Parses `{[op]varspec(,varspec)*}` starting at the `{`.
        private mutating func parseExpression() -> Bool {
            position += 1
            expressionCount += 1
            guard position < bytes.count else {
                return false
            }
            var first: UInt8 = 0
            var separator = UInt8(ascii: ",")
            var characterClass = CharacterClass.unreserved
            var named = false
            var collapses = true
            let op = bytes[position]
            switch op {
            case UInt8(ascii: "+"):
                characterClass = .reserved
            case UInt8(ascii: "#"):
                first = op
                characterClass = .reserved
            case UInt8(ascii: "."):
                first = op
                separator = op
            case UInt8(ascii: "/"):
                first = op
                separator = op
                collapses = false
            case UInt8(ascii: ";"):
                first = op
                separator = op
                named = true
                collapses = false
            case UInt8(ascii: "?"):
                first = op
                separator = UInt8(ascii: "&")
                named = true
                collapses = false
            case UInt8(ascii: "&"):
                first = op
                separator = op
                named = true
                collapses = false
            case UInt8(ascii: "="), UInt8(ascii: ","), UInt8(ascii: "!"), UInt8(ascii: "@"), UInt8(ascii: "|"):
                return false  // reserved for future extensions
            default:
                break
            }
            if op == first || op == UInt8(ascii: "+") {
                position += 1
            }
            if named {
                characterClass = .named
            }

            let firstNode = nodes.count
            while true {
                guard let (nameStart, nameCount, explode) = parseVarspec() else {
                    return false
                }
                variableCount += 1
                if !collapses {
                    nodes.append(
                        Node(
                            kind: .variable,
                            start: nameStart,
                            count: nameCount,
                            first: first,
                            separator: separator,
                            characterClass: characterClass,
                            named: named,
                            explode: explode
                        )
                    )
                }
                guard position < bytes.count else {
                    return false
                }
                let byte = bytes[position]
                position += 1
                if byte == UInt8(ascii: "}") {
                    break
                }
                guard byte == UInt8(ascii: ",") else {
                    return false
                }
            }
            if collapses {
                nodes.append(Node(kind: .run, start: 0, count: 0, first: first, characterClass: characterClass))
            } else if nodes.count > firstNode {
                nodes[nodes.count - 1].lastInExpression = true
            }
            return true
        }

        /// Parses `varname [":" max-length | "*"]`, storing the name in the pool.
        private mutating func parseVarspec() -> (start: Int, count: Int, explode: Bool)? {
            let nameStart = pool.count
            var expectingVarchar = true
            while position < bytes.count {
                let byte = bytes[position]
                if byte == UInt8(ascii: "%") {
                    guard hasPercentEncoding(at: position) else {
                        return nil
                    }
                    pool.append(contentsOf: bytes[position..<position + 3])
                    position += 3
                    expectingVarchar = false
                } else if Self.isVarchar(byte) {
                    pool.append(byte)
                    position += 1
                    expectingVarchar = false
                } else if byte == UInt8(ascii: "."), !expectingVarchar {
                    pool.append(byte)
                    position += 1
                    expectingVarchar = true
                } else {
                    break
                }
            }
            guard !expectingVarchar else {
                return nil  // empty name, or a name ending in "."
            }
            let nameCount = pool.count - nameStart
            guard position < bytes.count else {
                return nil
            }
            if bytes[position] == UInt8(ascii: "*") {
                position += 1
                return (nameStart, nameCount, true)
            }
            if bytes[position] == UInt8(ascii: ":") {
                position += 1
                // max-length = %x31-39 0*3DIGIT
                guard position < bytes.count, bytes[position] >= UInt8(ascii: "1"),
                    bytes[position] <= UInt8(ascii: "9")
                else {
                    return nil
                }
                position += 1
                var digits = 1
                while position < bytes.count, bytes[position] >= UInt8(ascii: "0"),
                    bytes[position] <= UInt8(ascii: "9")
                {
                    digits += 1
                    position += 1
                }
                guard digits <= 4 else {
                    return nil
                }
            }
            return (nameStart, nameCount, false)
        }

        private static func isVarchar(_ byte: UInt8) -> Bool {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "_"):
                return true
            default:
                return false
            }
        }

        /// RFC 6570 `literals`, with every non-ASCII byte accepted for ucschar and iprivate.
        private static func isLiteral(_ byte: UInt8) -> Bool {
            switch byte {
            case 0x21, 0x23...0x24, 0x26, 0x28...0x3B, 0x3D, 0x3F...0x5B, 0x5D, 0x5F, 0x61...0x7A, 0x7E, 0x80...0xFF:
                return true
            default:
                return false
            }
        }
    }
}
