import Foundation

extension EventRecord {
    /// The topics as a JSON array of strings, as stores keep them in one column (readable from a database shell).
    /// Written by hand: `JSONEncoder` took about a tenth of a database store's share of a publish.
    public var topicsJSON: String {
        var json = "["
        for (index, topic) in self.topics.enumerated() {
            if index > 0 { json += "," }
            JSONValue.writeQuoted(topic, to: &json)
        }
        return json + "]"
    }

    /// The topics of ``topicsJSON``.
    public static func topics(fromJSON json: String) throws -> [String] {
        try JSONDecoder().decode([String].self, from: Data(json.utf8))
    }
}
