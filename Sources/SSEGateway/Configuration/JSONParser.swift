/// A strict RFC 8259 parser producing ``JSONValue``, with line and column numbers in its errors.
struct JSONParser {
    private let bytes: [UInt8]
    private var offset = 0
    private static let maxDepth = 512

    init(bytes: [UInt8]) {
        self.bytes = bytes
    }

    mutating func parseDocument() throws(ConfigError) -> JSONValue {
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) {
            offset = 3
        }
        skipWhitespace()
        let value = try parseValue(depth: 0)
        skipWhitespace()
        if offset < bytes.count {
            throw unexpected()
        }
        return value
    }

    private mutating func parseValue(depth: Int) throws(ConfigError) -> JSONValue {
        guard offset < bytes.count else { throw unexpected() }
        switch bytes[offset] {
        case UInt8(ascii: "{"):
            return try parseObject(depth: depth + 1)
        case UInt8(ascii: "["):
            return try parseArray(depth: depth + 1)
        case UInt8(ascii: "\""):
            return .string(try parseString())
        case UInt8(ascii: "t"):
            try expectLiteral("true")
            return .bool(true)
        case UInt8(ascii: "f"):
            try expectLiteral("false")
            return .bool(false)
        case UInt8(ascii: "n"):
            try expectLiteral("null")
            return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            return try parseNumber()
        default:
            throw unexpected()
        }
    }

    private mutating func parseObject(depth: Int) throws(ConfigError) -> JSONValue {
        guard depth <= Self.maxDepth else { throw failure("nesting deeper than \(Self.maxDepth) levels") }
        offset += 1
        var members: [String: JSONValue] = [:]
        skipWhitespace()
        if peek(UInt8(ascii: "}")) {
            offset += 1
            return .object(members)
        }
        while true {
            skipWhitespace()
            guard peek(UInt8(ascii: "\"")) else { throw unexpected(expecting: "a string key") }
            let keyOffset = offset
            let key = try parseString()
            skipWhitespace()
            guard peek(UInt8(ascii: ":")) else { throw unexpected(expecting: "':'") }
            offset += 1
            skipWhitespace()
            let value = try parseValue(depth: depth)
            if members.updateValue(value, forKey: key) != nil {
                throw failure("duplicate key \"\(key)\"", at: keyOffset)
            }
            skipWhitespace()
            if peek(UInt8(ascii: ",")) {
                offset += 1
            } else if peek(UInt8(ascii: "}")) {
                offset += 1
                return .object(members)
            } else {
                throw unexpected(expecting: "',' or '}'")
            }
        }
    }

    private mutating func parseArray(depth: Int) throws(ConfigError) -> JSONValue {
        guard depth <= Self.maxDepth else { throw failure("nesting deeper than \(Self.maxDepth) levels") }
        offset += 1
        var elements: [JSONValue] = []
        skipWhitespace()
        if peek(UInt8(ascii: "]")) {
            offset += 1
            return .array(elements)
        }
        while true {
            skipWhitespace()
            elements.append(try parseValue(depth: depth))
            skipWhitespace()
            if peek(UInt8(ascii: ",")) {
                offset += 1
            } else if peek(UInt8(ascii: "]")) {
                offset += 1
                return .array(elements)
            } else {
                throw unexpected(expecting: "',' or ']'")
            }
        }
    }

    private mutating func parseString() throws(ConfigError) -> String {
        let start = offset
        offset += 1
        var utf8: [UInt8] = []
        while true {
            guard offset < bytes.count else { throw failure("unterminated string", at: start) }
            let byte = bytes[offset]
            switch byte {
            case UInt8(ascii: "\""):
                offset += 1
                guard let string = String(validating: utf8, as: UTF8.self) else {
                    throw failure("string is not valid UTF-8", at: start)
                }
                return string
            case UInt8(ascii: "\\"):
                offset += 1
                try parseEscape(into: &utf8)
            case 0..<0x20:
                throw failure("control character in string; escape it")
            default:
                utf8.append(byte)
                offset += 1
            }
        }
    }

    private mutating func parseEscape(into utf8: inout [UInt8]) throws(ConfigError) {
        guard offset < bytes.count else { throw unexpected() }
        let escape = bytes[offset]
        offset += 1
        switch escape {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): utf8.append(escape)
        case UInt8(ascii: "b"): utf8.append(0x08)
        case UInt8(ascii: "f"): utf8.append(0x0C)
        case UInt8(ascii: "n"): utf8.append(0x0A)
        case UInt8(ascii: "r"): utf8.append(0x0D)
        case UInt8(ascii: "t"): utf8.append(0x09)
        case UInt8(ascii: "u"):
            let escapeStart = offset - 2
            var code = UInt32(try parseHex4())
            if (0xD800..<0xDC00).contains(code) {
                guard bytes[offset...].starts(with: [UInt8(ascii: "\\"), UInt8(ascii: "u")]) else {
                    throw failure("unpaired surrogate in \\u escape", at: escapeStart)
                }
                offset += 2
                let low = UInt32(try parseHex4())
                guard (0xDC00..<0xE000).contains(low) else {
                    throw failure("unpaired surrogate in \\u escape", at: escapeStart)
                }
                code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
            }
            guard let scalar = Unicode.Scalar(code) else {
                throw failure("unpaired surrogate in \\u escape", at: escapeStart)
            }
            utf8.append(contentsOf: Array(String(Character(scalar)).utf8))
        default:
            offset -= 1
            throw failure("invalid escape sequence")
        }
    }

    private mutating func parseHex4() throws(ConfigError) -> UInt16 {
        var value: UInt16 = 0
        for _ in 0..<4 {
            guard offset < bytes.count else { throw unexpected() }
            let byte = bytes[offset]
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
            default: throw failure("invalid \\u escape; expected 4 hex digits")
            }
            value = value << 4 | UInt16(digit)
            offset += 1
        }
        return value
    }

    private mutating func parseNumber() throws(ConfigError) -> JSONValue {
        let start = offset
        var isInteger = true
        if peek(UInt8(ascii: "-")) { offset += 1 }
        if peek(UInt8(ascii: "0")) {
            offset += 1
            if peekDigit() { throw failure("leading zeros are not allowed in numbers", at: start) }
        } else {
            guard skipDigits() else { throw unexpected(expecting: "a digit") }
        }
        if peek(UInt8(ascii: ".")) {
            isInteger = false
            offset += 1
            guard skipDigits() else { throw unexpected(expecting: "a digit") }
        }
        if peek(UInt8(ascii: "e")) || peek(UInt8(ascii: "E")) {
            isInteger = false
            offset += 1
            if peek(UInt8(ascii: "+")) || peek(UInt8(ascii: "-")) { offset += 1 }
            guard skipDigits() else { throw unexpected(expecting: "a digit") }
        }
        let text = String(decoding: bytes[start..<offset], as: UTF8.self)
        if isInteger, let value = Int(text) {
            return .integer(value)
        }
        guard let value = Double(text), value.isFinite else {
            throw failure("number \(text) is out of range", at: start)
        }
        return .number(value)
    }

    private mutating func expectLiteral(_ literal: String) throws(ConfigError) {
        for byte in literal.utf8 {
            guard peek(byte) else { throw unexpected() }
            offset += 1
        }
    }

    private mutating func skipWhitespace() {
        while offset < bytes.count {
            switch bytes[offset] {
            case 0x20, 0x09, 0x0A, 0x0D: offset += 1
            default: return
            }
        }
    }

    private mutating func skipDigits() -> Bool {
        let start = offset
        while peekDigit() { offset += 1 }
        return offset > start
    }

    private func peek(_ byte: UInt8) -> Bool {
        offset < bytes.count && bytes[offset] == byte
    }

    private func peekDigit() -> Bool {
        offset < bytes.count && (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[offset])
    }

    private func unexpected(expecting expected: String? = nil) -> ConfigError {
        let suffix = expected.map { "; expected \($0)" } ?? ""
        guard offset < bytes.count else {
            return failure("unexpected end of input" + suffix)
        }
        let byte = bytes[offset]
        let shown =
            (0x21..<0x7F).contains(byte)
            ? "'\(Character(Unicode.Scalar(byte)))'"
            : "byte 0x" + (byte < 0x10 ? "0" : "") + String(byte, radix: 16, uppercase: true)
        return failure("unexpected character \(shown)" + suffix)
    }

    private func failure(_ reason: String, at position: Int? = nil) -> ConfigError {
        let position = min(position ?? offset, bytes.count)
        var line = 1
        var column = 1
        for byte in bytes[..<position] {
            if byte == 0x0A {
                line += 1
                column = 1
            } else if byte & 0xC0 != 0x80 {
                column += 1
            }
        }
        return ConfigError(path: "", message: "invalid JSON: \(reason) at line \(line), column \(column)")
    }
}
