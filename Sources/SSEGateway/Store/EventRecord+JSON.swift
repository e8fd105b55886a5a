import Foundation

extension EventRecord {
    /// The topics as a JSON array of strings, as stores keep them in one column (readable from a database shell).
    /// Written by hand: `JSONEncoder` took about a tenth of a database store's share of a publish.
    public var topicsJSON: String {
        var json = "["
        for (index, topic) in self.topics.enumerated() {
            if index > 0 { json += "," }
            json += "\""
            for scalar in topic.unicodeScalars {
                switch scalar {
                case "\"": json += "\\\""
                case "\\": json += "\\\\"
                case "\n": json += "\\n"
                case "\r": json += "\\r"
                case "\t": json += "\\t"
                case _ where scalar.value < 0x20:
                    let hex = String(scalar.value, radix: 16)
                    json += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                default: json.unicodeScalars.append(scalar)
                }
            }
            json += "\""
        }
        return json + "]"
    }

    /// The topics of ``topicsJSON``.
    public static func topics(fromJSON json: String) throws -> [String] {
        try JSONDecoder().decode([String].self, from: Data(json.utf8))
    }
}
