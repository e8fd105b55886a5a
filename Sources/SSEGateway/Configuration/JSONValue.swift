/// A parsed JSON document kept as plain values, so configuration can be read strictly and reported with paths instead
/// of going through `Decodable` models that silently ignore unknown keys.
///
/// Integers and fractional numbers stay distinct: `3` is ``integer(_:)`` and `1.5` or `3.0` is ``number(_:)``, which
/// lets readers reject `port: 80.5` rather than truncating it. That distinction and the strictness hold for the
/// `parse` functions; decoding through `Decodable` follows whatever the decoder accepts (Foundation's `JSONDecoder`
/// reads `3.0` as an integer and tolerates duplicate keys).
public enum JSONValue: Sendable, Equatable, Decodable, CustomStringConvertible {
    case null
    case bool(Bool)
    case integer(Int)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Int.self) {
            self = .integer(value)
        } else if let value = try? container.decode(Double.self) {
            self = .number(value)
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else if let value = try? container.decode([JSONValue].self) {
            self = .array(value)
        } else {
            self = .object(try container.decode([String: JSONValue].self))
        }
    }

    /// Parses a JSON document strictly: trailing commas, duplicate keys, comments and trailing garbage are rejected,
    /// and syntax errors name the line and column so the operator can fix the file.
    public static func parse(_ bytes: some Collection<UInt8>) throws(ConfigError) -> JSONValue {
        var parser = JSONParser(bytes: Array(bytes))
        return try parser.parseDocument()
    }

    /// Parses a JSON document held in a string, with the same strictness as the byte-based overload.
    public static func parse(_ text: String) throws(ConfigError) -> JSONValue {
        try parse(Array(text.utf8))
    }

    /// The kind of value with its article, ready to follow "expected … got" in an error message.
    public var typeDescription: String {
        switch self {
        case .null: "null"
        case .bool: "a boolean"
        case .integer: "an integer"
        case .number: "a number"
        case .string: "a string"
        case .array: "an array"
        case .object: "an object"
        }
    }

    /// The value as compact JSON text, truncated so that a huge value cannot flood an error message.
    public var shortDescription: String {
        let limit = 40
        let text = description
        guard text.count > limit else { return text }
        return String(text.prefix(limit - 1)) + "…"
    }

    /// The value as compact JSON text, with object keys sorted so the output is stable.
    public var description: String {
        var output = ""
        write(to: &output)
        return output
    }

    private func write(to output: inout String) {
        switch self {
        case .null:
            output += "null"
        case .bool(let value):
            output += value ? "true" : "false"
        case .integer(let value):
            output += String(value)
        case .number(let value):
            output += String(value)
        case .string(let value):
            Self.writeQuoted(value, to: &output)
        case .array(let elements):
            output += "["
            for (index, element) in elements.enumerated() {
                if index > 0 { output += "," }
                element.write(to: &output)
            }
            output += "]"
        case .object(let members):
            output += "{"
            for (index, key) in members.keys.sorted().enumerated() {
                if index > 0 { output += "," }
                Self.writeQuoted(key, to: &output)
                output += ":"
                members[key]?.write(to: &output)
            }
            output += "}"
        }
    }

    /// Appends `string` as a JSON string literal; also how stores write event topics.
    static func writeQuoted(_ string: String, to output: inout String) {
        output += "\""
        for scalar in string.unicodeScalars {
            switch scalar {
            case "\"": output += "\\\""
            case "\\": output += "\\\\"
            case "\n": output += "\\n"
            case "\r": output += "\\r"
            case "\t": output += "\\t"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                output += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default:
                output.unicodeScalars.append(scalar)
            }
        }
        output += "\""
    }
}
