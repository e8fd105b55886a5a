/// One value of a configuration document together with its JSON path, so that every reader reports problems at the
/// exact place they occur.
///
/// The gateway decodes its own configuration with this type, and plugins use it to decode their settings with the
/// same strictness and the same style of error messages.
public struct ConfigNode: Sendable {
    /// Where this value sits in the document; empty for the root.
    public let path: String
    /// The raw value.
    public let value: JSONValue

    public init(path: String, value: JSONValue) {
        self.path = path
        self.value = value
    }

    /// An error located at this node.
    public func error(_ message: String) -> ConfigError {
        ConfigError(path: path, message: message)
    }

    private func mismatch(_ expected: String) -> ConfigError {
        error("expected \(expected), got \(value.shortDescription)")
    }

    public func string() throws(ConfigError) -> String {
        guard case .string(let string) = value else { throw mismatch("a string") }
        return string
    }

    /// Reads an integer; fractional numbers are rejected rather than truncated so typos surface early.
    public func int(in range: ClosedRange<Int>? = nil) throws(ConfigError) -> Int {
        guard case .integer(let integer) = value else { throw mismatch("an integer") }
        try check(integer, in: range)
        return integer
    }

    /// Reads a number, accepting integers too since JSON writers rarely add `.0`.
    public func double() throws(ConfigError) -> Double {
        switch value {
        case .integer(let integer): return Double(integer)
        case .number(let number): return number
        default: throw mismatch("a number")
        }
    }

    public func bool() throws(ConfigError) -> Bool {
        guard case .bool(let bool) = value else { throw mismatch("a boolean") }
        return bool
    }

    /// Reads a duration written with units, such as `"15s"`, `"500ms"`, `"250us"`, `"2m"`, `"1h"` or `"1m30s"`.
    ///
    /// Bare numbers are rejected because their unit would be a guess; negative durations are rejected because no
    /// timeout or interval can be negative.
    public func duration() throws(ConfigError) -> Duration {
        let example = #"a duration like "15s" or "500ms""#
        guard case .string(let text) = value else { throw mismatch(example) }
        switch ConfigUnits.parseDuration(text) {
        case .success(let duration):
            return duration
        case .failure(.negative):
            throw error("must not be negative, got \(value.shortDescription)")
        case .failure(.reason(let reason)):
            throw error("invalid duration \(value.shortDescription): \(reason)")
        case .failure(.malformed):
            throw mismatch(example)
        }
    }

    /// Reads a size in bytes: a plain integer, or a string with a 1024-based unit such as `"512B"`, `"64KiB"`,
    /// `"1MiB"` or `"2GiB"`.
    ///
    /// Decimal units such as `"KB"` are rejected because readers disagree on whether they mean 1000 or 1024.
    public func byteSize(in range: ClosedRange<Int>? = nil) throws(ConfigError) -> Int {
        let example = #"a byte size like 65536 or "64KiB""#
        let size: Int
        switch value {
        case .integer(let integer):
            guard integer >= 0 else { throw error("must not be negative, got \(integer)") }
            size = integer
        case .string(let text):
            switch ConfigUnits.parseByteSize(text) {
            case .success(let parsed):
                size = parsed
            case .failure(.negative):
                throw error("must not be negative, got \(value.shortDescription)")
            case .failure(.reason(let reason)):
                throw error("invalid byte size \(value.shortDescription): \(reason)")
            case .failure(.malformed):
                throw mismatch(example)
            }
        default:
            throw mismatch(example)
        }
        try check(size, in: range)
        return size
    }

    /// Reads an array, handing out child nodes whose paths carry their index.
    public func array() throws(ConfigError) -> [ConfigNode] {
        guard case .array(let elements) = value else { throw mismatch("an array") }
        return elements.enumerated().map { index, element in
            ConfigNode(path: "\(path)[\(index)]", value: element)
        }
    }

    /// Reads an array, converting each element with `read`.
    public func array<T>(_ read: (ConfigNode) throws(ConfigError) -> T) throws(ConfigError) -> [T] {
        var result: [T] = []
        for element in try array() {
            result.append(try read(element))
        }
        return result
    }

    public func stringArray() throws(ConfigError) -> [String] {
        try array { node throws(ConfigError) in try node.string() }
    }

    /// Opens an object for reading; call ``ConfigObject/finish()`` afterwards to reject unknown keys, or use
    /// ``object(_:)`` which does it for you.
    public func object() throws(ConfigError) -> ConfigObject {
        guard case .object(let members) = value else { throw mismatch("an object") }
        return ConfigObject(path: path, members: members)
    }

    /// Reads an object with `read` and then rejects any key that `read` did not look at.
    public func object<T>(_ read: (ConfigObject) throws(ConfigError) -> T) throws(ConfigError) -> T {
        let object = try object()
        let result = try read(object)
        try object.finish()
        return result
    }

    /// Reads a string that must be one of the raw values of `type`, listing the choices when it is not.
    public func oneOf<T: RawRepresentable & CaseIterable>(
        _ type: T.Type
    ) throws(ConfigError) -> T where T.RawValue == String {
        let choices = T.allCases.map(\.rawValue).joined(separator: ", ")
        guard case .string(let text) = value, let result = T(rawValue: text) else {
            throw mismatch("one of \(choices)")
        }
        return result
    }

    private func check(_ number: Int, in range: ClosedRange<Int>?) throws(ConfigError) {
        guard let range, !range.contains(number) else { return }
        let shown = value.shortDescription
        if range.upperBound == Int.max {
            throw error("must be at least \(range.lowerBound), got \(shown)")
        } else if range.lowerBound == Int.min {
            throw error("must be at most \(range.upperBound), got \(shown)")
        } else {
            throw error("must be between \(range.lowerBound) and \(range.upperBound), got \(shown)")
        }
    }

    /// The path of the member `key` of an object at `path`.
    public static func childPath(_ path: String, key: String) -> String {
        let isPlain =
            !key.isEmpty
            && key.utf8.allSatisfy { byte in
                switch byte {
                case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                    UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "_"), UInt8(ascii: "-"):
                    return true
                default:
                    return false
                }
            }
        if !isPlain {
            return "\(path)[\(JSONValue.string(key).description)]"
        }
        return path.isEmpty ? key : "\(path).\(key)"
    }
}
