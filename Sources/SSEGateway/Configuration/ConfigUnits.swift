/// Parsing of the unit-bearing strings that configuration accepts for durations and byte sizes.
enum ConfigUnits {
    enum Failure: Error {
        /// The value is well formed but below zero.
        case negative
        /// The value is malformed in a way worth explaining.
        case reason(String)
        /// The value is not recognisable at all.
        case malformed
    }

    private static let durationUnits: [String: Int64] = [
        "ns": 1,
        "us": 1_000,
        "µs": 1_000,
        "ms": 1_000_000,
        "s": 1_000_000_000,
        "m": 60_000_000_000,
        "h": 3_600_000_000_000,
    ]

    private static let byteUnits: [String: Int] = [
        "b": 1,
        "kib": 1 << 10,
        "mib": 1 << 20,
        "gib": 1 << 30,
        "tib": 1 << 40,
    ]

    private static let decimalByteUnits: Set<String> = ["k", "kb", "m", "mb", "g", "gb", "t", "tb"]

    /// Parses `"1m30s"`-style durations: one or more numbers, each followed by a unit.
    static func parseDuration(_ text: String) -> Result<Duration, Failure> {
        var rest = Substring(text)
        if rest.hasPrefix("-") {
            return parseDuration(String(rest.dropFirst())).flatMap { _ in .failure(.negative) }
        }
        guard !rest.isEmpty else { return .failure(.malformed) }
        var total: Int64 = 0
        while !rest.isEmpty {
            let whole = rest.prefix(while: \.isASCIIDigit)
            rest = rest.dropFirst(whole.count)
            var fraction: Substring = ""
            if rest.first == "." {
                fraction = rest.dropFirst().prefix(while: \.isASCIIDigit)
                guard !fraction.isEmpty else { return .failure(.malformed) }
                rest = rest.dropFirst(1 + fraction.count)
            }
            guard !whole.isEmpty else { return .failure(.malformed) }
            let unit = rest.prefix(while: { !$0.isASCIIDigit && $0 != "." })
            rest = rest.dropFirst(unit.count)
            guard !unit.isEmpty else {
                let number = fraction.isEmpty ? "\(whole)" : "\(whole).\(fraction)"
                return .failure(.reason("missing unit after \(number), as in \"\(number)s\""))
            }
            guard let scale = durationUnits[String(unit)] else {
                return .failure(.reason("unknown unit \"\(unit)\"; use ns, us, ms, s, m or h"))
            }
            guard let wholeValue = Int64(whole),
                case (let scaled, false) = wholeValue.multipliedReportingOverflow(by: scale),
                case (let sum, false) = total.addingReportingOverflow(scaled)
            else {
                return .failure(.reason("duration is too long"))
            }
            total = sum
            if !fraction.isEmpty {
                // Digits beyond nanosecond precision cannot change the result.
                let digits = fraction.prefix(18)
                var divisor: Int64 = 1
                for _ in digits { divisor *= 10 }
                let numerator = Int64(digits) ?? 0
                let (high, low) = numerator.multipliedFullWidth(by: scale)
                let (fractionNanos, _) = divisor.dividingFullWidth((high, low))
                guard case (let sum, false) = total.addingReportingOverflow(fractionNanos) else {
                    return .failure(.reason("duration is too long"))
                }
                total = sum
            }
        }
        return .success(.nanoseconds(total))
    }

    /// Parses `"64KiB"`-style sizes: a whole number with an optional 1024-based unit.
    static func parseByteSize(_ text: String) -> Result<Int, Failure> {
        var rest = Substring(text)
        if rest.hasPrefix("-") {
            return parseByteSize(String(rest.dropFirst())).flatMap { _ in .failure(.negative) }
        }
        let digits = rest.prefix(while: \.isASCIIDigit)
        rest = rest.dropFirst(digits.count)
        guard !digits.isEmpty else { return .failure(.malformed) }
        if rest.first == " " { rest = rest.dropFirst() }
        let unit = rest.lowercased()
        let scale: Int
        if unit.isEmpty {
            scale = 1
        } else if let binary = byteUnits[unit] {
            scale = binary
        } else if decimalByteUnits.contains(unit) {
            return .failure(
                .reason("decimal unit \"\(rest)\" is not accepted; use B, KiB, MiB, GiB or TiB (1024-based)")
            )
        } else {
            return .failure(.reason("unknown unit \"\(rest)\"; use B, KiB, MiB, GiB or TiB"))
        }
        guard let value = Int(digits), case (let size, false) = value.multipliedReportingOverflow(by: scale) else {
            return .failure(.reason("size is too large"))
        }
        return .success(size)
    }
}

extension Character {
    fileprivate var isASCIIDigit: Bool {
        isASCII && isWholeNumber
    }
}
