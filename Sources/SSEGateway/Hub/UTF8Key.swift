#if canImport(Glibc)
    import Glibc
#endif

/// A string that compares and hashes on its UTF-8 bytes, for indexing topics and event ids.
///
/// Swift's `String` equality is Unicode canonical equivalence, so `"caf\u{E9}"` (NFC) equals `"cafe\u{301}"` (NFD)
/// and both hash alike. Mercure compares topics and ids byte for byte, so a dictionary keyed by `String` would route
/// an update to a subscriber of a differently spelled topic. Wrapping the string costs nothing: no copy, no
/// normalisation, and hashing reads the contiguous UTF-8 storage directly.
struct UTF8Key: Hashable, Sendable {
    let string: String

    init(_ string: String) {
        self.string = string
    }

    static func == (lhs: UTF8Key, rhs: UTF8Key) -> Bool {
        sameBytes(lhs.string, rhs.string)
    }

    func hash(into hasher: inout Hasher) {
        Self.hashBytes(of: self.string, into: &hasher)
    }

    /// Whether `lhs` and `rhs` have the same UTF-8 bytes, which is how topics, selectors and ids compare.
    static func sameBytes(_ lhs: String, _ rhs: String) -> Bool {
        guard lhs.utf8.count == rhs.utf8.count else {
            return false
        }
        let result = lhs.utf8.withContiguousStorageIfAvailable { left in
            rhs.utf8.withContiguousStorageIfAvailable { right in
                // Same count, checked above; `memcmp` compares a word at a time where a generic loop takes bytes.
                left.isEmpty || memcmp(left.baseAddress!, right.baseAddress!, left.count) == 0
            }
        }
        if let result, let result {
            return result
        }
        return lhs.utf8.elementsEqual(rhs.utf8)
    }

    /// Whether two optional strings are both absent or have the same UTF-8 bytes.
    static func sameBytes(_ lhs: String?, _ rhs: String?) -> Bool {
        switch (lhs, rhs) {
        case (nil, nil):
            return true
        case (let lhs?, let rhs?):
            return sameBytes(lhs, rhs)
        default:
            return false
        }
    }

    /// Whether two lists of strings (topics, selectors) are equal element by element on UTF-8 bytes.
    static func sameBytes(_ lhs: [String], _ rhs: [String]) -> Bool {
        lhs.count == rhs.count && zip(lhs, rhs).allSatisfy { sameBytes($0, $1) }
    }

    /// Feeds the UTF-8 bytes of `string` to `hasher`, consistently with ``sameBytes(_:_:)``.
    static func hashBytes(of string: String, into hasher: inout Hasher) {
        let hashed: Void? = string.utf8.withContiguousStorageIfAvailable {
            hasher.combine(bytes: UnsafeRawBufferPointer($0))
        }
        if hashed == nil {
            Array(string.utf8).withUnsafeBytes { hasher.combine(bytes: $0) }
        }
    }

    /// Whether the UTF-8 bytes of `part` occur in those of `string`: `String.contains` compares characters, so a
    /// combining mark after the last byte of `part` would hide it.
    static func bytes(of string: String, contain part: String) -> Bool {
        let needle = Array(part.utf8)
        guard let first = needle.first else {
            return true
        }
        let haystack = string.utf8
        guard haystack.count >= needle.count else {
            return false
        }
        var index = haystack.startIndex
        let last = haystack.index(haystack.endIndex, offsetBy: -needle.count)
        while index <= last {
            if haystack[index] == first, haystack[index...].starts(with: needle) {
                return true
            }
            index = haystack.index(after: index)
        }
        return false
    }
}
