@testable import SSEGateway

/// The memoised backtracking matcher that `URITemplate` used before its automaton, kept as the reference the
/// automaton is checked against: it reads the node list as directly as possible, one recursive case per node kind,
/// but its cost grows with the square of the topic length.
enum BacktrackingTemplateMatcher {
    /// Whether `topic` matches `template`, by recursion over its parsed nodes.
    static func matches(_ template: URITemplate, _ topic: String) -> Bool {
        let input = Array(topic.utf8)
        return template.nodes.withUnsafeBufferPointer { nodes in
            template.pool.withUnsafeBufferPointer { pool in
                input.withUnsafeBufferPointer { input in
                    let states = nodes.count * 2 * (input.count + 1)
                    let words = (states + 63) / 64
                    return withUnsafeTemporaryAllocation(of: UInt64.self, capacity: max(words, 1)) { visited in
                        visited.initialize(repeating: 0)
                        let matcher = Matcher(nodes: nodes, pool: pool, input: input, visited: visited)
                        return matcher.match(0, 0, started: false)
                    }
                }
            }
        }
    }

    private struct Matcher {
        let nodes: UnsafeBufferPointer<URITemplate.Node>
        let pool: UnsafeBufferPointer<UInt8>
        let input: UnsafeBufferPointer<UInt8>
        /// One bit per (node, started, position) state already explored; each failed exactly once.
        let visited: UnsafeMutableBufferPointer<UInt64>

        /// Whether `input[position...]` matches `nodes[index...]`; `started` tells a variable node whether an
        /// earlier variable of its expression was defined, and so whether it is introduced by `first` or
        /// `separator`.
        func match(_ index: Int, _ position: Int, started: Bool) -> Bool {
            if index == nodes.count {
                return position == input.count
            }
            let state = (index &* 2 &+ (started ? 1 : 0)) &* (input.count &+ 1) &+ position
            let word = state >> 6
            let bit = UInt64(1) << UInt64(state & 63)
            if visited[word] & bit != 0 {
                return false
            }
            visited[word] |= bit

            let node = nodes[index]
            switch node.kind {
            case .literal:
                guard URITemplate.hasBytes(pool, node.start, node.count, in: input, at: position) else {
                    return false
                }
                return match(index + 1, position + node.count, started: false)

            case .run:
                if match(index + 1, position, started: false) {
                    return true  // every variable undefined
                }
                var cursor = position
                if node.first != 0 {
                    guard cursor < input.count, input[cursor] == node.first else {
                        return false
                    }
                    cursor += 1
                }
                return matchRun(from: cursor, node.characterClass) { match(index + 1, $0, started: false) }

            case .variable:
                let nextStarted = node.lastInExpression ? false : started
                if match(index + 1, position, started: nextStarted) {
                    return true  // this variable undefined
                }
                let afterStarted = !node.lastInExpression
                let delimiter = started ? node.separator : node.first
                guard position < input.count, input[position] == delimiter else {
                    return false
                }
                var cursor = position + 1
                if node.named && !node.explode {
                    guard URITemplate.hasBytes(pool, node.start, node.count, in: input, at: cursor) else {
                        return false
                    }
                    cursor += node.count
                    if match(index + 1, cursor, started: afterStarted) {
                        return true  // `;name` or a bare `?name`
                    }
                    guard cursor < input.count, input[cursor] == UInt8(ascii: "=") else {
                        return false
                    }
                    return matchRun(from: cursor + 1, node.characterClass) {
                        match(index + 1, $0, started: afterStarted)
                    }
                }
                // The separator is never in the class here, so each item ends at the next separator.
                while true {
                    var itemEnd = cursor
                    while true {
                        if match(index + 1, itemEnd, started: afterStarted) {
                            return true
                        }
                        guard let next = advance(itemEnd, node.characterClass) else {
                            break
                        }
                        itemEnd = next
                    }
                    guard node.explode, itemEnd < input.count, input[itemEnd] == node.separator else {
                        return false
                    }
                    cursor = itemEnd + 1
                }
            }
        }

        /// Tries `rest` at every character boundary of the longest run of `characterClass` starting at `start`.
        @inline(__always)
        private func matchRun(
            from start: Int,
            _ characterClass: URITemplate.CharacterClass,
            _ rest: (Int) -> Bool
        ) -> Bool {
            var cursor = start
            while true {
                if rest(cursor) {
                    return true
                }
                guard let next = advance(cursor, characterClass) else {
                    return false
                }
                cursor = next
            }
        }

        /// The position after one value character (a byte of the class or a `%XX` triplet) at `position`.
        @inline(__always)
        private func advance(_ position: Int, _ characterClass: URITemplate.CharacterClass) -> Int? {
            guard position < input.count else {
                return nil
            }
            let byte = input[position]
            if byte == UInt8(ascii: "%") {
                guard position + 2 < input.count, URITemplate.isHexDigit(input[position + 1]),
                    URITemplate.isHexDigit(input[position + 2])
                else {
                    return nil
                }
                return position + 3
            }
            return URITemplate.isInClass(byte, characterClass) ? position + 1 : nil
        }
    }
}
