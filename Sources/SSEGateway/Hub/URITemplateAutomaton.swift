/// The automaton a ``URITemplate`` is matched with: a Thompson NFA compiled from the template's nodes and simulated
/// bit-parallel, one bit per node in each of a few state vectors.
///
/// A match costs O(topic bytes × nodes / 64) word operations, plus a linear scan per literal, whatever the template:
/// subscribers choose templates, and a backtracking matcher would let one of them spend seconds of an event loop on
/// one publish.
///
/// For node `i`, the states are:
/// - `F` bit i: at the start of node i, with no variable of its expression defined yet (`started == false`);
/// - `T` bit i: at the start of variable node i after a defined variable of its expression (`started == true`);
/// - `L` bit i: inside the value of node i (a run, one item, or a named value after `=`), looping on its class;
/// - `H1`, `H2` bit i: after the `%`, and after the first hex digit, of a `%XX` triplet inside that value;
/// - `A` bit i: just after the name of a named variable, where `=value` may follow.
///
/// `F` bit `nodes.count` is acceptance. ε-edges only lead from node i to node i + 1 or into node i, so the closure is
/// a shift and a carry-propagating addition per vector. Literals and names are matched as wholes rather than byte by
/// byte, so that a long literal entered at many positions costs no more than a short one: a literal by a
/// Knuth–Morris–Pratt scan, each occurrence checked against a short history of `F` (was the literal entered where
/// the occurrence starts?); a name by comparison (a name holds no delimiter, so at most one is pending per node).
/// One-byte literals, the cheapest to write and the most expensive to scan, are plain transitions instead: the bytes
/// of all of them are held as eight bit planes over the nodes, which give the literals a byte completes in eight
/// operations per word.
/// The caller has already checked a leading literal, which is skipped, and a trailing one, which only needs to be
/// entered where it must start.
struct URITemplateAutomaton: Sendable {
    /// The fields of a literal between two others, scanned by KMP: `stride` integers per literal, compiled once
    /// and copied into each match's integer scratch, where the scan's state changes.
    private enum Record {
        static let node = 0
        static let start = 1
        static let count = 2
        /// Where its failure table is in the integer scratch.
        static let failure = 3
        /// Bytes of the literal matched by the scan so far.
        static let matched = 4
        /// The latest position where the literal was entered.
        static let latest = 5
        /// 1 once the failure table is built.
        static let built = 6
        static let stride = 7
    }

    /// Masks over nodes, `words` each, in this order at the start of `masks`.
    private enum Mask {
        /// Runs and variables: an undefined value is an ε-edge to the next node.
        static let optional = 0
        /// Variables followed by another of their expression, which starts with the separator once one is defined.
        static let continues = 1
        /// Variables that end their expression.
        static let ends = 2
        /// Runs without a first byte, whose value starts at once.
        static let runWithoutFirst = 3
        /// The literals of `literals`, scanned by KMP.
        static let literal = 4
        /// Nodes whose value takes every byte a value may hold (all runs and variables).
        static let anyValue = 5
        /// Nodes whose value also takes `=`: the named and the reserved classes.
        static let equalsValue = 6
        /// Nodes whose value also takes the reserved characters.
        static let reservedValue = 7
        static let count = 8
    }

    /// Masks for one delimiter byte, at the offset `delimiterMasks` gives.
    private enum DelimiterMask {
        /// `F` → `L`: the byte is the node's first, and a value follows.
        static let firstToValue = 0
        /// `T` → `L`: the byte is the variable's separator, and a value follows.
        static let separatorToValue = 1
        /// `L` → `L`: the byte separates the items of an exploded variable.
        static let nextItem = 2
        /// `F` → name: the byte is a named variable's first, and its name follows.
        static let firstToName = 3
        /// `T` → name: the byte is a named variable's separator, and its name follows.
        static let separatorToName = 4
        static let count = 5
    }

    /// Vectors in the scratch, `words` each, in this order at its start.
    private enum Vector {
        static let entry = 0  // F
        static let started = 1  // T
        static let afterName = 2  // A
        static let value = 3  // L
        static let percent = 4  // H1
        static let hex = 5  // H2
        static let nextValue = 6
        static let nextPercent = 7
        static let nextHex = 8
        static let nameStarts = 9
        static let pendingNames = 10
        /// The literal nodes whose scan is running.
        static let scanning = 11
        static let count = 12
    }

    /// Words per vector: one bit per node, plus acceptance.
    let words: Int
    private let nodeCount: Int
    private let masks: [UInt64]
    /// For each delimiter of `#./;?&` (see `delimiterSlot`), the offset of its masks in `masks`, or -1 when unused.
    private let delimiterMasks: [Int]
    /// The offset in `masks` of the one-byte literals' nodes followed by the eight planes of their bytes (plane `k`
    /// holds the nodes whose byte has bit `k` set), or -1 when there are none.
    private let singleBytes: Int
    /// `Record.stride` integers per literal scanned by KMP.
    private let records: [Int]
    private let literalCount: Int
    /// For each node, its literal's index, or -1.
    private let literalOfNode: [Int32]
    /// The trailing literal's node and length, or -1 and 0.
    private let tail: (node: Int, count: Int)
    /// Positions the history of `F` covers, a power of two longer than every scanned literal.
    private let historyLength: Int
    /// Words of the bit scratch: the vectors, then the history.
    private let bitWords: Int
    /// Integers of the integer scratch: pending name arrivals (one per node), the running scans, the records, the
    /// failure tables.
    private let integerCount: Int
    private let scans: Int
    private let recordsOffset: Int

    /// Compiles `nodes`, whose literals and names are in `pool`; `skippingHead` says that the caller checks a leading
    /// literal and starts after it.
    init(nodes: [URITemplate.Node], pool: [UInt8], skippingHead: Bool) {
        let nodeCount = nodes.count
        let words = (nodeCount + 1 + 63) / 64
        var masks = [UInt64](repeating: 0, count: Mask.count * words)
        var delimiterMasks = [Int](repeating: -1, count: 6)
        var literalOfNode = [Int32](repeating: -1, count: nodeCount)
        var literals: [(node: Int, start: Int, count: Int)] = []
        var singleByteLiterals: [(node: Int, byte: UInt8)] = []

        func set(_ mask: Int, _ node: Int) {
            masks[mask * words + node >> 6] |= 1 << UInt64(node & 63)
        }
        func set(_ delimiterMask: Int, on byte: UInt8, _ node: Int) {
            let slot = Self.delimiterSlot(byte)
            precondition(slot >= 0, "a node's first or separator is always one of #./;?&")
            if delimiterMasks[slot] < 0 {
                delimiterMasks[slot] = masks.count
                masks.append(contentsOf: repeatElement(0, count: DelimiterMask.count * words))
            }
            masks[delimiterMasks[slot] + delimiterMask * words + node >> 6] |= 1 << UInt64(node & 63)
        }

        for (index, node) in nodes.enumerated() {
            if node.kind == .literal {
                let isHead = index == 0 && skippingHead
                let isTail = index == nodeCount - 1 && nodeCount > 1
                if !isHead && !isTail && node.count == 1 {
                    singleByteLiterals.append((index, pool[node.start]))
                } else if !isHead && !isTail {
                    set(Mask.literal, index)
                    literalOfNode[index] = Int32(literals.count)
                    literals.append((index, node.start, node.count))
                }
                continue
            }
            set(Mask.optional, index)
            set(Mask.anyValue, index)
            if node.characterClass != .unreserved {
                set(Mask.equalsValue, index)
            }
            if node.characterClass == .reserved {
                set(Mask.reservedValue, index)
            }
            if node.kind == .run {
                if node.first == 0 {
                    set(Mask.runWithoutFirst, index)
                } else {
                    set(DelimiterMask.firstToValue, on: node.first, index)
                }
                continue
            }
            set(node.lastInExpression ? Mask.ends : Mask.continues, index)
            if node.named && !node.explode {
                set(DelimiterMask.firstToName, on: node.first, index)
                set(DelimiterMask.separatorToName, on: node.separator, index)
            } else {
                set(DelimiterMask.firstToValue, on: node.first, index)
                set(DelimiterMask.separatorToValue, on: node.separator, index)
                if node.explode {
                    set(DelimiterMask.nextItem, on: node.separator, index)
                }
            }
        }

        var singleBytes = -1
        if !singleByteLiterals.isEmpty {
            singleBytes = masks.count
            masks.append(contentsOf: repeatElement(0, count: 9 * words))
            for (node, byte) in singleByteLiterals {
                masks[singleBytes + node >> 6] |= 1 << UInt64(node & 63)
                for plane in 0..<8 where byte & (1 << plane) != 0 {
                    masks[singleBytes + (1 + plane) * words + node >> 6] |= 1 << UInt64(node & 63)
                }
            }
        }
        var historyLength = 1
        while historyLength <= literals.map(\.count).max() ?? 0 {
            historyLength <<= 1
        }
        let scans = nodeCount
        let recordsOffset = scans + literals.count
        var failure = recordsOffset + literals.count * Record.stride
        var records: [Int] = []
        for literal in literals {
            records += [literal.node, literal.start, literal.count, failure, 0, 0, 0]
            failure += literal.count
        }
        let last = nodes.last
        if nodeCount > 1, let last, last.kind == .literal {
            self.tail = (nodeCount - 1, last.count)
        } else {
            self.tail = (-1, 0)
        }

        self.words = words
        self.nodeCount = nodeCount
        self.masks = masks
        self.delimiterMasks = delimiterMasks
        self.singleBytes = singleBytes
        self.records = records
        self.literalCount = literals.count
        self.literalOfNode = literalOfNode
        self.historyLength = historyLength
        self.bitWords = Vector.count * words + (literals.isEmpty ? 0 : historyLength * words)
        self.integerCount = max(failure, 1)
        self.scans = scans
        self.recordsOffset = recordsOffset
    }

    /// Whether `input[start...]` matches `nodes[startNode...]`, `startNode` being entered with `started == false`.
    func matches(
        _ input: UnsafeBufferPointer<UInt8>,
        from start: Int,
        node startNode: Int,
        nodes: UnsafeBufferPointer<URITemplate.Node>,
        pool: UnsafeBufferPointer<UInt8>
    ) -> Bool {
        withUnsafeTemporaryAllocation(of: UInt64.self, capacity: self.bitWords) { bits in
            // Only the vectors start at zero: a history slot is always written before it is read.
            bits.baseAddress!.initialize(repeating: 0, count: Vector.count * self.words)
            return withUnsafeTemporaryAllocation(of: Int.self, capacity: self.integerCount) { integers in
                self.records.withUnsafeBufferPointer { records in
                    // The rest needs no initial value: arrivals and scans are written before they are read.
                    if let source = records.baseAddress {
                        (integers.baseAddress! + self.recordsOffset).initialize(from: source, count: records.count)
                    }
                }
                return self.masks.withUnsafeBufferPointer { masks in
                    self.delimiterMasks.withUnsafeBufferPointer { delimiterMasks in
                        self.literalOfNode.withUnsafeBufferPointer { literalOfNode in
                            URITemplateAutomaton.byteFlags.withUnsafeBufferPointer { byteFlags in
                                var simulation = Simulation(
                                    automaton: self,
                                    masks: masks.baseAddress!,
                                    delimiterMasks: delimiterMasks.baseAddress!,
                                    literalOfNode: literalOfNode.baseAddress,
                                    nodes: nodes.baseAddress!,
                                    pool: pool.baseAddress,
                                    input: input,
                                    byteFlags: byteFlags.baseAddress!,
                                    bits: bits.baseAddress!,
                                    integers: integers.baseAddress!
                                )
                                return simulation.run(from: start, node: startNode)
                            }
                        }
                    }
                }
            }
        }
    }

    // MARK: - Bytes

    /// Flags of `byteFlags`.
    private enum ByteFlag {
        /// In every value class: unreserved, `,`, or any byte ≥ 0x80 (topics may be IRIs).
        static let value: UInt8 = 1
        static let equals: UInt8 = 2
        /// A reserved character other than those of `value`.
        static let reserved: UInt8 = 4
        static let hexDigit: UInt8 = 8
        static let percent: UInt8 = 16
        /// The delimiter slot plus one, in the top three bits.
        static let delimiterShift: UInt8 = 5
    }

    private static let byteFlags: [UInt8] = (0...255).map { value in
        let byte = UInt8(value)
        var flags: UInt8 = 0
        if URITemplate.isInClass(byte, .unreserved) {
            flags |= ByteFlag.value
        }
        if byte == UInt8(ascii: "=") {
            flags |= ByteFlag.equals
        }
        if URITemplate.isReserved(byte) {
            flags |= ByteFlag.reserved
        }
        if URITemplate.isHexDigit(byte) {
            flags |= ByteFlag.hexDigit
        }
        if byte == UInt8(ascii: "%") {
            flags |= ByteFlag.percent
        }
        flags |= UInt8(delimiterSlot(byte) + 1) << ByteFlag.delimiterShift
        return flags
    }

    /// The index of `byte` among the bytes that start a value or a name or separate values, or -1.
    private static func delimiterSlot(_ byte: UInt8) -> Int {
        switch byte {
        case UInt8(ascii: "#"): return 0
        case UInt8(ascii: "."): return 1
        case UInt8(ascii: "/"): return 2
        case UInt8(ascii: ";"): return 3
        case UInt8(ascii: "?"): return 4
        case UInt8(ascii: "&"): return 5
        default: return -1
        }
    }

    // MARK: - Simulation

    /// One match: the template's tables and the scratch, as raw pointers so that the per-byte loop neither retains
    /// nor bounds-checks.
    private struct Simulation {
        let words: Int
        let nodeCount: Int
        let delimiterMasks: UnsafePointer<Int>
        let masks: UnsafePointer<UInt64>
        let literalCount: Int
        let literalOfNode: UnsafePointer<Int32>?
        let nodes: UnsafePointer<URITemplate.Node>
        let pool: UnsafePointer<UInt8>?
        let input: UnsafePointer<UInt8>?
        let inputCount: Int
        let byteFlags: UnsafePointer<UInt8>
        /// Where each pending name ends, by node.
        let arrivals: UnsafeMutablePointer<Int>
        /// The literal records, `Record.stride` each.
        let records: UnsafeMutablePointer<Int>
        let integers: UnsafeMutablePointer<Int>
        // The vectors and masks, `words` each.
        let entry: UnsafeMutablePointer<UInt64>
        let started: UnsafeMutablePointer<UInt64>
        let afterName: UnsafeMutablePointer<UInt64>
        let value: UnsafeMutablePointer<UInt64>
        let percent: UnsafeMutablePointer<UInt64>
        let hex: UnsafeMutablePointer<UInt64>
        let nextValue: UnsafeMutablePointer<UInt64>
        let nextPercent: UnsafeMutablePointer<UInt64>
        let nextHex: UnsafeMutablePointer<UInt64>
        let nameStarts: UnsafeMutablePointer<UInt64>
        let pendingNames: UnsafeMutablePointer<UInt64>
        let optional: UnsafePointer<UInt64>
        let continues: UnsafePointer<UInt64>
        let ends: UnsafePointer<UInt64>
        let runWithoutFirst: UnsafePointer<UInt64>
        let literalMask: UnsafePointer<UInt64>
        /// The one-byte literals' nodes and the planes of their bytes, or nil.
        let singleBytes: UnsafePointer<UInt64>?
        let scanning: UnsafeMutablePointer<UInt64>
        /// `F & literalMask` at the last `historyMask + 1` positions, `words` each, by position modulo that.
        let history: UnsafeMutablePointer<UInt64>
        let historyMask: Int
        /// The literals (by index) whose scan is running, `scanCount` of them.
        let scans: UnsafeMutablePointer<Int>
        let tailNode: Int
        /// Where the trailing literal must be entered, or -1.
        let tailStart: Int
        var pendingNameCount = 0
        var scanCount = 0
        /// Whether the last byte started a name, so that `stepNames` has work.
        var namesStarted = false

        init(
            automaton: URITemplateAutomaton,
            masks: UnsafePointer<UInt64>,
            delimiterMasks: UnsafePointer<Int>,
            literalOfNode: UnsafePointer<Int32>?,
            nodes: UnsafePointer<URITemplate.Node>,
            pool: UnsafePointer<UInt8>?,
            input: UnsafeBufferPointer<UInt8>,
            byteFlags: UnsafePointer<UInt8>,
            bits scratch: UnsafeMutablePointer<UInt64>,
            integers: UnsafeMutablePointer<Int>
        ) {
            let words = automaton.words
            self.words = words
            self.nodeCount = automaton.nodeCount
            self.masks = masks
            self.delimiterMasks = delimiterMasks
            self.literalCount = automaton.literalCount
            self.literalOfNode = literalOfNode
            self.nodes = nodes
            self.pool = pool
            self.input = input.baseAddress
            self.inputCount = input.count
            self.byteFlags = byteFlags
            self.integers = integers
            self.arrivals = integers
            self.records = integers + automaton.recordsOffset
            self.entry = scratch + Vector.entry * words
            self.started = scratch + Vector.started * words
            self.afterName = scratch + Vector.afterName * words
            self.value = scratch + Vector.value * words
            self.percent = scratch + Vector.percent * words
            self.hex = scratch + Vector.hex * words
            self.nextValue = scratch + Vector.nextValue * words
            self.nextPercent = scratch + Vector.nextPercent * words
            self.nextHex = scratch + Vector.nextHex * words
            self.nameStarts = scratch + Vector.nameStarts * words
            self.pendingNames = scratch + Vector.pendingNames * words
            self.optional = masks + Mask.optional * words
            self.continues = masks + Mask.continues * words
            self.ends = masks + Mask.ends * words
            self.runWithoutFirst = masks + Mask.runWithoutFirst * words
            self.literalMask = masks + Mask.literal * words
            self.singleBytes = automaton.singleBytes >= 0 ? masks + automaton.singleBytes : nil
            self.scanning = scratch + Vector.scanning * words
            self.history = scratch + Vector.count * words
            self.historyMask = automaton.historyLength - 1
            self.scans = integers + automaton.scans
            self.tailNode = automaton.tail.node
            self.tailStart = automaton.tail.node >= 0 ? input.count - automaton.tail.count : -1
        }

        mutating func run(from start: Int, node startNode: Int) -> Bool {
            if self.words == 1 {
                return self.runInOneWord(from: start, node: startNode)
            }
            self.entry[startNode >> 6] |= 1 << UInt64(startNode & 63)
            var position = start
            var live = self.close(at: position)
            while position < self.inputCount {
                if position == self.tailStart && self.isEntered(self.tailNode) {
                    return true  // the caller checked the trailing literal's bytes
                }
                guard live || self.pendingNameCount > 0 || self.scanCount > 0 else {
                    return false
                }
                let byte = self.input.unsafelyUnwrapped[position]
                self.consume(byte)
                position &+= 1
                if self.scanCount > 0 {
                    self.stepLiterals(byte, at: position)
                }
                if self.namesStarted || self.pendingNameCount > 0 {
                    self.stepNames(at: position)
                }
                live = self.close(at: position)
            }
            return self.isEntered(self.nodeCount) || (position == self.tailStart && self.isEntered(self.tailNode))
        }

        @inline(__always)
        private func isEntered(_ node: Int) -> Bool {
            node >= 0 && self.entry[node >> 6] & (1 << UInt64(node & 63)) != 0
        }

        /// `run` for templates of fewer than 64 nodes, nearly all of them: the same steps as `consume` and `close`
        /// with the vectors in registers, so that a byte costs a few dozen instructions.
        private mutating func runInOneWord(from start: Int, node startNode: Int) -> Bool {
            let optional = self.optional[0]
            let continues = self.continues[0]
            let ends = self.ends[0]
            let runWithoutFirst = self.runWithoutFirst[0]
            let literalMask = self.literalMask[0]
            let anyValue = self.masks[Mask.anyValue]
            let equalsValue = self.masks[Mask.equalsValue]
            let reservedValue = self.masks[Mask.reservedValue]
            let accept: UInt64 = 1 << UInt64(self.nodeCount)
            let tail: UInt64 = self.tailNode >= 0 ? 1 << UInt64(self.tailNode) : 0
            let hasLiterals = self.literalCount > 0
            let input = self.input
            var f: UInt64 = 1 << UInt64(startNode)
            var t: UInt64 = 0
            var a: UInt64 = 0
            var l: UInt64 = 0
            var h1: UInt64 = 0
            var h2: UInt64 = 0
            var next: UInt64 = 0
            var position = start
            while true {
                let exits = next | a
                let toStarted = exits & continues
                t = Self.fill(toStarted << 1, continues)
                f = Self.fill(f | (exits & ~continues) << 1 | (t & ends) << 1, optional)
                l = next | (f & runWithoutFirst)
                if hasLiterals {
                    let entered = f & literalMask
                    self.history[position & self.historyMask] = entered
                    if entered & ~self.scanning[0] != 0 {
                        self.entry[0] = f
                        self.startScans(at: position)
                    }
                }
                if position == self.tailStart && f & tail != 0 {
                    return true  // the caller checked the trailing literal's bytes
                }
                if position == self.inputCount {
                    return f & accept != 0
                }
                guard f | t | l | h1 | h2 | a != 0 || self.pendingNameCount > 0 || self.scanCount > 0 else {
                    return false
                }

                let byte = input.unsafelyUnwrapped[position]
                let flags = self.byteFlags[Int(byte)]
                if flags & ByteFlag.value != 0 {
                    next = l & anyValue
                } else if flags & ByteFlag.equals != 0 {
                    next = l & equalsValue | a
                } else if flags & ByteFlag.reserved != 0 {
                    next = l & reservedValue
                } else {
                    next = 0
                }
                var names: UInt64 = 0
                let slot = Int(flags >> ByteFlag.delimiterShift) &- 1
                if slot >= 0, self.delimiterMasks[slot] >= 0 {
                    let delimiter = self.masks + self.delimiterMasks[slot]
                    next |= f & delimiter[DelimiterMask.firstToValue]
                    next |= t & delimiter[DelimiterMask.separatorToValue]
                    next |= l & delimiter[DelimiterMask.nextItem]
                    names = f & delimiter[DelimiterMask.firstToName] | t & delimiter[DelimiterMask.separatorToName]
                }
                if flags & ByteFlag.hexDigit != 0 {
                    next |= h2
                    h2 = h1
                } else {
                    h2 = 0
                }
                h1 = flags & ByteFlag.percent != 0 ? l : 0
                position &+= 1
                f = self.singleByteArrivals(from: f, byte, word: 0) << 1
                a = 0
                if self.scanCount > 0 {
                    self.entry[0] = f
                    self.stepLiterals(byte, at: position)
                    f = self.entry[0]
                }
                if names != 0 || self.pendingNameCount > 0 {
                    self.nameStarts[0] = names
                    self.afterName[0] = 0
                    self.stepNames(at: position)
                    a = self.afterName[0]
                }
            }
        }

        /// `fill(_:_:carry:)` within one word; nothing propagates past acceptance, the last bit used.
        @inline(__always)
        private static func fill(_ x: UInt64, _ through: UInt64) -> UInt64 {
            x | ((through &+ (x & through)) ^ through)
        }

        /// Takes `byte` from every state into the `next` vectors and the name starts, and clears `F` and `A` for the
        /// edges of the next position.
        @inline(__always)
        private mutating func consume(_ byte: UInt8) {
            let flags = self.byteFlags[Int(byte)]
            let keepMask: Int
            if flags & ByteFlag.value != 0 {
                keepMask = Mask.anyValue
            } else if flags & ByteFlag.equals != 0 {
                keepMask = Mask.equalsValue
            } else if flags & ByteFlag.reserved != 0 {
                keepMask = Mask.reservedValue
            } else {
                keepMask = -1
            }
            let isHex = flags & ByteFlag.hexDigit != 0
            let isPercent = flags & ByteFlag.percent != 0
            let isEquals = flags & ByteFlag.equals != 0
            let slot = Int(flags >> ByteFlag.delimiterShift) &- 1
            let delimiterOffset = slot >= 0 ? self.delimiterMasks[slot] : -1
            let words = self.words
            var anyName: UInt64 = 0
            var arrivalCarry: UInt64 = 0
            for word in 0..<words {
                let f = self.entry[word]
                let l = self.value[word]
                var next: UInt64 = 0
                if keepMask >= 0 {
                    next = l & self.masks[keepMask &* words &+ word]
                }
                if isHex {
                    next |= self.hex[word]
                }
                if isEquals {
                    next |= self.afterName[word]
                }
                var names: UInt64 = 0
                if delimiterOffset >= 0 {
                    let delimiter = self.masks + (delimiterOffset &+ word)
                    let t = self.started[word]
                    next |= f & delimiter[DelimiterMask.firstToValue &* words]
                    next |= t & delimiter[DelimiterMask.separatorToValue &* words]
                    next |= l & delimiter[DelimiterMask.nextItem &* words]
                    names = f & delimiter[DelimiterMask.firstToName &* words]
                    names |= t & delimiter[DelimiterMask.separatorToName &* words]
                    anyName |= names
                }
                let arrivals = self.singleByteArrivals(from: f, byte, word: word)
                self.nextValue[word] = next
                self.nextPercent[word] = isPercent ? l : 0
                self.nextHex[word] = isHex ? self.percent[word] : 0
                self.nameStarts[word] = names
                self.entry[word] = arrivals << 1 | arrivalCarry
                arrivalCarry = arrivals >> 63
                self.afterName[word] = 0
            }
            self.namesStarted = anyName != 0
        }

        /// The one-byte literals among `entries` (of `word`) whose byte is `byte`: they enter the next node.
        @inline(__always)
        private func singleByteArrivals(from entries: UInt64, _ byte: UInt8, word: Int) -> UInt64 {
            guard let planes = self.singleBytes else {
                return 0
            }
            let words = self.words
            var matched = entries & planes[word]
            var bit = 0
            while matched != 0 && bit < 8 {
                let plane = planes[(1 &+ bit) &* words &+ word]
                matched &= byte & (1 << UInt8(bit)) != 0 ? plane : ~plane
                bit &+= 1
            }
            return matched
        }

        /// Advances the running scans over `byte`, the one before `position`: a literal that ends at `position` and
        /// was entered where it starts enters the next node. A scan stops once no entry it has seen can still end.
        private mutating func stepLiterals(_ byte: UInt8, at position: Int) {
            let pool = self.pool.unsafelyUnwrapped
            let previous = self.history + ((position &- 1) & self.historyMask) &* self.words
            var index = 0
            while index < self.scanCount {
                let record = self.records + self.scans[index] &* Record.stride
                let node = record[Record.node]
                let count = record[Record.count]
                let failure = self.integers + record[Record.failure]
                let word = node >> 6
                let bit: UInt64 = 1 << UInt64(truncatingIfNeeded: node & 63)
                if previous[word] & bit != 0 {
                    record[Record.latest] = position &- 1
                }
                let text = pool + record[Record.start]
                var matched = record[Record.matched]
                while matched > 0 && text[matched] != byte {
                    matched = failure[matched &- 1]
                }
                if text[matched] == byte {
                    matched &+= 1
                }
                if matched == count {
                    matched = failure[matched &- 1]
                    let begin = position &- count
                    if self.history[(begin & self.historyMask) &* self.words &+ word] & bit != 0 {
                        let next = node &+ 1
                        self.entry[next >> 6] |= 1 << UInt64(truncatingIfNeeded: next & 63)
                    }
                }
                record[Record.matched] = matched
                if record[Record.latest] &+ count <= position {
                    self.scanning[word] &= ~bit
                    self.scanCount &-= 1
                    self.scans[index] = self.scans[self.scanCount]
                } else {
                    index &+= 1
                }
            }
        }

        /// Moves names that end at `position` to `A`, and checks the names that start there.
        private mutating func stepNames(at position: Int) {
            let pool = self.pool.unsafelyUnwrapped
            let input = self.input.unsafelyUnwrapped
            for word in 0..<self.words {
                if self.pendingNameCount > 0 {
                    var bits = self.pendingNames[word]
                    while bits != 0 {
                        let bit: UInt64 = bits & (0 &- bits)
                        let node = word << 6 | bits.trailingZeroBitCount
                        bits &= bits &- 1
                        if self.arrivals[node] == position {
                            self.afterName[word] |= bit
                            self.pendingNames[word] &= ~bit
                            self.pendingNameCount &-= 1
                        }
                    }
                }
                var bits = self.nameStarts[word]
                while bits != 0 {
                    let bit: UInt64 = bits & (0 &- bits)
                    let node = word << 6 | bits.trailingZeroBitCount
                    bits &= bits &- 1
                    let name = self.nodes[node]
                    guard position &+ name.count <= self.inputCount else {
                        continue
                    }
                    var offset = 0
                    while offset < name.count && pool[name.start &+ offset] == input[position &+ offset] {
                        offset &+= 1
                    }
                    guard offset == name.count else {
                        continue
                    }
                    // A name holds no delimiter, so no other start of this node is pending.
                    self.arrivals[node] = position &+ name.count
                    if self.pendingNames[word] & bit == 0 {
                        self.pendingNames[word] |= bit
                        self.pendingNameCount &+= 1
                    }
                }
            }
        }

        /// The ε-closure at `position`: values and names that may end here lead to the next node, and undefined
        /// variables are skipped; then the literals entered here are recorded, and scanned from here if idle. Returns
        /// whether any state is live.
        @inline(__always)
        private mutating func close(at position: Int) -> Bool {
            var startedShift: UInt64 = 0
            var startedCarry = false
            var endedShift: UInt64 = 0
            var entryShift: UInt64 = 0
            var entryCarry = false
            var live: UInt64 = 0
            var newScans: UInt64 = 0
            let hasLiterals = self.literalCount > 0
            let history = self.history + (position & self.historyMask) &* self.words
            for word in 0..<self.words {
                let nextValue = self.nextValue[word]
                let afterName = self.afterName[word]
                let continues = self.continues[word]
                let exits = nextValue | afterName
                let toStarted = exits & continues
                let toEntry = exits & ~continues
                var t = toStarted << 1 | startedShift
                startedShift = toStarted >> 63
                t = Self.fill(t, continues, carry: &startedCarry)
                let ended = t & self.ends[word]
                var f = self.entry[word] | toEntry << 1 | entryShift | ended << 1 | endedShift
                entryShift = toEntry >> 63
                endedShift = ended >> 63
                f = Self.fill(f, self.optional[word], carry: &entryCarry)
                let l = nextValue | (f & self.runWithoutFirst[word])
                let h1 = self.nextPercent[word]
                let h2 = self.nextHex[word]
                self.entry[word] = f
                self.started[word] = t
                self.value[word] = l
                self.percent[word] = h1
                self.hex[word] = h2
                live |= f | t | l | h1 | h2 | afterName
                if hasLiterals {
                    let entered = f & self.literalMask[word]
                    history[word] = entered
                    newScans |= entered & ~self.scanning[word]
                }
            }
            if newScans != 0 {
                self.startScans(at: position)
            }
            return live != 0
        }

        /// Starts a scan for each literal of `F` without one, from `position`, where it is entered.
        private mutating func startScans(at position: Int) {
            guard let literalOfNode = self.literalOfNode else {
                return
            }
            for word in 0..<self.words {
                var bits = self.entry[word] & self.literalMask[word] & ~self.scanning[word]
                while bits != 0 {
                    let bit: UInt64 = bits & (0 &- bits)
                    let node = word << 6 | bits.trailingZeroBitCount
                    bits &= bits &- 1
                    let index = Int(literalOfNode[node])
                    let record = self.records + index &* Record.stride
                    guard position &+ record[Record.count] <= self.inputCount else {
                        continue  // it could only end past the topic
                    }
                    record[Record.matched] = 0
                    record[Record.latest] = position
                    if record[Record.built] == 0 {
                        record[Record.built] = 1
                        self.buildFailure(record)
                    }
                    self.scans[self.scanCount] = index
                    self.scanCount &+= 1
                    self.scanning[word] |= bit
                }
            }
        }

        /// The KMP failure table of a literal: for each prefix, the length of its longest proper border. Built on
        /// first use, so that literals never entered cost nothing.
        private func buildFailure(_ record: UnsafeMutablePointer<Int>) {
            let text = self.pool.unsafelyUnwrapped + record[Record.start]
            let failure = self.integers + record[Record.failure]
            let count = record[Record.count]
            failure[0] = 0
            var border = 0
            var index = 1
            while index < count {
                while border > 0 && text[index] != text[border] {
                    border = failure[border &- 1]
                }
                if text[index] == text[border] {
                    border &+= 1
                }
                failure[index] = border
                index &+= 1
            }
        }

        /// Sets, in `x`, every node reachable from a node of `x` through nodes of `through`, and the first node
        /// after each such run: one carry-propagating addition, with the carry chained across words.
        @inline(__always)
        private static func fill(_ x: UInt64, _ through: UInt64, carry: inout Bool) -> UInt64 {
            let (partial, overflow1) = through.addingReportingOverflow(x & through)
            let (sum, overflow2) = partial.addingReportingOverflow(carry ? 1 : 0)
            carry = overflow1 || overflow2
            return x | (sum ^ through)
        }
    }
}
