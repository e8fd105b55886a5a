import Compression
import Testing

@testable import SSEGateway

@Suite("Compression settings")
struct CompressionConfigurationTests {
    /// Builds the chain of a configuration whose only middleware is `compression` with `settings` (a JSON object's
    /// members), returning the warnings or the error's description.
    private static func check(_ settings: String) -> Result<[String], ConfigError> {
        Result { () throws(ConfigError) in
            let json = #"{"middleware": [{"use": "compression"\#(settings.isEmpty ? "" : ", " + settings)}]}"#
            let configuration = try GatewayConfiguration(jsonString: json)
            return try GatewayServer.check(configuration: configuration, registry: .plugins)
        }
    }

    @Test(arguments: [
        (#""level": 10"#, "middleware[0].level: must be between 0 and 9, got 10"),
        (#""level": -1"#, "middleware[0].level: must be between 0 and 9, got -1"),
        (#""level": 6.5"#, "middleware[0].level: expected an integer, got 6.5"),
        (#""windowBits": 8"#, "middleware[0].windowBits: must be between 9 and 15, got 8"),
        (#""windowBits": 16"#, "middleware[0].windowBits: must be between 9 and 15, got 16"),
        (#""memLevel": 0"#, "middleware[0].memLevel: must be between 1 and 9, got 0"),
        (#""memLevel": "3""#, #"middleware[0].memLevel: expected an integer, got "3""#),
        (#""encodings": "gzip""#, #"middleware[0].encodings: expected an array, got "gzip""#),
        (#""encodings": []"#, "middleware[0].encodings: must list at least one of gzip, deflate"),
        (#""encodings": ["gzip", "br"]"#, #"middleware[0].encodings[1]: expected one of gzip, deflate, got "br""#),
        (#""encodings": ["identity"]"#, #"middleware[0].encodings[0]: expected one of gzip, deflate, got "identity""#),
        (#""encodings": ["gzip", 1]"#, "middleware[0].encodings[1]: expected a string, got 1"),
        (#""encodings": ["deflate", "deflate"]"#, #"middleware[0].encodings[1]: "deflate" is listed twice"#),
        (
            #""minimumEventBytes": 64"#,
            "middleware[0].minimumEventBytes: unknown key; known keys: encodings, level, memLevel, name, use, windowBits"
        ),
    ])
    func badSettingsNameTheirPath(settings: String, message: String) {
        #expect(Self.check(settings).failureDescription == message)
    }

    @Test func defaultsAndValidSettings() throws {
        let defaults = CompressionMiddleware.Configuration()
        #expect(defaults.level == 6)
        #expect(defaults.windowBits == 12)
        #expect(defaults.memLevel == 3)
        #expect(defaults.encodings == [.gzip, .deflate])
        #expect(defaults.estimatedBytesPerStream < 32 * 1024)
        #expect(try Self.check("").get() == [])
        #expect(
            try Self.check(#""level": 1, "windowBits": 9, "memLevel": 1, "encodings": ["deflate", "gzip"]"#).get() == []
        )
    }

    @Test func costlySettingsRaiseWarnings() throws {
        #expect(
            try Self.check(#""windowBits": 15, "memLevel": 8"#).get() == [
                "compression: windowBits 15 with memLevel 8 holds about 262 KiB of zlib state per compressed stream"
            ]
        )
        #expect(
            try Self.check(#""level": 0"#).get() == [
                "compression: level 0 stores events uncompressed while still holding a zlib stream per subscriber"
            ]
        )
    }
}

extension Result where Failure == ConfigError {
    fileprivate var failureDescription: String? {
        if case .failure(let error) = self { return error.description }
        return nil
    }
}
