/// Raised when a form cannot be decoded safely.
public enum FormDecodingError: Error, Sendable, Equatable {
    /// The form has more name/value pairs than the caller allows, which bounds the work an untrusted body can cause.
    case tooManyFields(limit: Int)
}

/// `application/x-www-form-urlencoded` decoding as the WHATWG URL standard defines it, which is what browsers and
/// Mercure publishers send and what subscribe query strings use.
///
/// Decoding never fails on content: a `%` not followed by two hex digits is kept literally, and bytes that are not
/// valid UTF-8 become U+FFFD, exactly as browsers decode forms.
public enum FormURLEncoded {
    /// Decodes a request body into its pairs, in order, keeping repeated names.
    ///
    /// - Parameter maxFields: the most pairs accepted; more throws `FormDecodingError.tooManyFields`.
    public static func parse(
        _ bytes: some Collection<UInt8>,
        maxFields: Int = 10_000
    ) throws(FormDecodingError) -> [(name: String, value: String)] {
        let result =
            bytes.withContiguousStorageIfAvailable { decode($0, maxFields: maxFields) }
            ?? Array(bytes).withUnsafeBufferPointer { decode($0, maxFields: maxFields) }
        guard let result else {
            throw .tooManyFields(limit: maxFields)
        }
        return result
    }

    /// Splits a request target at its first `?` into the path, kept percent-encoded, and the decoded query pairs;
    /// any `#fragment` is dropped first.
    public static func parseQuery(_ uri: String) -> (path: String, query: [(name: String, value: String)]) {
        var target = Substring(uri)
        if let hash = target.utf8.firstIndex(of: UInt8(ascii: "#")) {
            target = target[..<hash]
        }
        guard let question = target.utf8.firstIndex(of: UInt8(ascii: "?")) else {
            return (String(target), [])
        }
        let path = String(target[..<question])
        let query = target.utf8[target.utf8.index(after: question)...]
        let pairs =
            query.withContiguousStorageIfAvailable { decode($0, maxFields: .max) }
            ?? Array(query).withUnsafeBufferPointer { decode($0, maxFields: .max) }
        return (path, pairs ?? [])
    }

    /// Decodes one component: `+` becomes a space and valid `%XX` sequences become bytes.
    public static func decodeComponent(_ component: some Collection<UInt8>) -> String {
        component.withContiguousStorageIfAvailable { decodeComponent($0) }
            ?? Array(component).withUnsafeBufferPointer { decodeComponent($0) }
    }

    /// Returns `nil` when there are more than `maxFields` pairs.
    private static func decode(
        _ bytes: UnsafeBufferPointer<UInt8>,
        maxFields: Int
    ) -> [(name: String, value: String)]? {
        var pairs: [(name: String, value: String)] = []
        var start = 0
        while start <= bytes.count {
            var end = start
            while end < bytes.count && bytes[end] != UInt8(ascii: "&") {
                end += 1
            }
            if end > start {
                guard pairs.count < maxFields else {
                    return nil
                }
                var equals = start
                while equals < end && bytes[equals] != UInt8(ascii: "=") {
                    equals += 1
                }
                let name = decodeComponent(UnsafeBufferPointer(rebasing: bytes[start..<equals]))
                let value =
                    equals < end ? decodeComponent(UnsafeBufferPointer(rebasing: bytes[(equals + 1)..<end])) : ""
                pairs.append((name, value))
            }
            start = end + 1
        }
        return pairs
    }

    private static func decodeComponent(_ bytes: UnsafeBufferPointer<UInt8>) -> String {
        guard bytes.contains(where: { $0 == UInt8(ascii: "%") || $0 == UInt8(ascii: "+") }) else {
            return String(decoding: bytes, as: UTF8.self)
        }
        var decoded: [UInt8] = []
        decoded.reserveCapacity(bytes.count)
        var index = 0
        while index < bytes.count {
            let byte = bytes[index]
            if byte == UInt8(ascii: "+") {
                decoded.append(UInt8(ascii: " "))
                index += 1
            } else if byte == UInt8(ascii: "%"), index + 2 < bytes.count,
                let high = hexValue(bytes[index + 1]), let low = hexValue(bytes[index + 2])
            {
                decoded.append(high << 4 | low)
                index += 3
            } else {
                decoded.append(byte)
                index += 1
            }
        }
        return String(decoding: decoded, as: UTF8.self)
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"):
            return byte - UInt8(ascii: "0")
        case UInt8(ascii: "A")...UInt8(ascii: "F"):
            return byte - UInt8(ascii: "A") + 10
        case UInt8(ascii: "a")...UInt8(ascii: "f"):
            return byte - UInt8(ascii: "a") + 10
        default:
            return nil
        }
    }
}
