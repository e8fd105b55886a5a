import Testing

@testable import SSEGateway

/// Two spellings of a topic that must stay different topics: Mercure compares topics byte for byte.
struct SpellingPair: Sendable, CustomTestStringConvertible {
    let name: String
    let first: String
    let second: String

    var testDescription: String { self.name }

    /// NFC against NFD (equal as Swift strings), full-width against ASCII, and a case pair.
    static let all = [
        SpellingPair(name: "NFC/NFD", first: "caf\u{E9}", second: "cafe\u{301}"),
        SpellingPair(name: "full-width/ASCII", first: "\u{FF42}\u{FF4F}\u{FF4F}\u{FF4B}\u{FF53}", second: "books"),
        SpellingPair(name: "case", first: "Books", second: "books"),
    ]

    /// A topic or template under `https://example.com/` ending in `spelling`.
    static func url(_ spelling: String, prefix: String = "") -> String {
        "https://example.com/\(prefix)\(spelling)"
    }

    static let marker = "https://example.com/marker"

    /// `topic=…` parameters, every byte outside the unreserved set percent-encoded, so the bytes arrive as written.
    static func query(_ topics: [String]) -> String {
        topics.map { "topic=\(percentEncoded($0))" }.joined(separator: "&")
    }

    static func percentEncoded(_ text: String) -> String {
        var encoded = ""
        for byte in text.utf8 {
            if URITemplate.isUnreserved(byte) {
                encoded.append(Character(Unicode.Scalar(byte)))
            } else {
                encoded += (byte < 16 ? "%0" : "%") + String(byte, radix: 16, uppercase: true)
            }
        }
        return encoded
    }
}
