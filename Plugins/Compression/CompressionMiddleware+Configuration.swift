public import SSEGateway

extension CompressionMiddleware {
    /// How streams are compressed; every stream that negotiates a coding holds its own zlib state of this shape.
    public struct Configuration: Sendable, Equatable {
        /// zlib compression level, 0–9. Default 6: zlib's own default. On events of a few hundred bytes, level 1
        /// compresses about 15 % faster for a 3 % larger output; higher levels cost CPU on every delivery for little.
        public var level: Int = 6
        /// Base-2 logarithm of the history window, 9–15. Default 12: 4 KiB of history covers the repetition within
        /// and between typical events, and the window is most of what a stream's zlib state weighs (15 makes that
        /// part eight times larger).
        public var windowBits: Int = 12
        /// zlib's internal memory level, 1–9. Default 3: the hash table and pending buffer it sizes are small for
        /// events of a few hundred bytes, while zlib's default 8 adds about 120 KiB to every stream. With 12 and 3
        /// a stream holds about 26 KiB; with 15 and 8 it holds 262 KiB, and a thousand of them compress about half
        /// as fast because their state no longer fits the caches.
        public var memLevel: Int = 3
        /// Codings offered, in the server's order of preference, which breaks ties between equal client qualities.
        /// Default gzip then deflate: gzip is what every client decodes and what proxies expect.
        public var encodings: [ContentCoding] = ContentCoding.compressing

        public init() {}

        /// zlib's deflate state for these settings, which is what each compressed stream holds while open.
        public var estimatedBytesPerStream: Int {
            (1 << (self.windowBits + 2)) + (1 << (self.memLevel + 9)) + 6 * 1024
        }

        /// Reads the settings of a `{"use": "compression", ...}` entry.
        public init(settings: ConfigObject) throws(ConfigError) {
            let defaults = Configuration()
            self.level = try settings.decode("level", default: defaults.level) { node throws(ConfigError) in
                try node.int(in: 0...9)
            }
            self.windowBits = try settings.decode("windowBits", default: defaults.windowBits) {
                node throws(ConfigError) in
                try node.int(in: 9...15)
            }
            self.memLevel = try settings.decode("memLevel", default: defaults.memLevel) { node throws(ConfigError) in
                try node.int(in: 1...9)
            }
            self.encodings = try settings.decode("encodings", default: defaults.encodings) {
                node throws(ConfigError) in
                try Self.readEncodings(node)
            }
        }

        private static func readEncodings(_ node: ConfigNode) throws(ConfigError) -> [ContentCoding] {
            let names = ContentCoding.compressing.map(\.rawValue).joined(separator: ", ")
            var codings: [ContentCoding] = []
            for element in try node.array() {
                let text = try element.string()
                guard let coding = ContentCoding(rawValue: text), coding != .identity else {
                    throw element.error("expected one of \(names), got \(element.value.shortDescription)")
                }
                guard !codings.contains(coding) else { throw element.error("\"\(text)\" is listed twice") }
                codings.append(coding)
            }
            guard !codings.isEmpty else { throw node.error("must list at least one of \(names)") }
            return codings
        }
    }
}
