import Foundation
import NIOCore
import Testing

@testable import SSEGateway

/// Decodes `json` expecting failure, and returns the error's full description.
private func configError(_ json: String) -> String? {
    do {
        _ = try GatewayConfiguration(jsonString: json)
        return nil
    } catch {
        return error.description
    }
}

@Suite("JSONValue")
struct JSONValueTests {
    @Test func parsesScalarsKeepingIntegersDistinct() throws {
        #expect(try JSONValue.parse("3") == .integer(3))
        #expect(try JSONValue.parse("-0") == .integer(0))
        #expect(try JSONValue.parse("1.5") == .number(1.5))
        #expect(try JSONValue.parse("3.0") == .number(3.0))
        #expect(try JSONValue.parse("1e3") == .number(1000))
        #expect(try JSONValue.parse("99999999999999999999") == .number(1e20))
        #expect(try JSONValue.parse("true") == .bool(true))
        #expect(try JSONValue.parse(" null ") == .null)
        #expect(try JSONValue.parse(#""a\"\\\/\n\u00e9\ud83d\ude00""#) == .string("a\"\\/\né😀"))
    }

    @Test func parsesNestedStructures() throws {
        let value = try JSONValue.parse(Data(#"{"a": [1, true, null, "x"], "b": {}}"#.utf8))
        #expect(value == .object(["a": .array([.integer(1), .bool(true), .null, .string("x")]), "b": .object([:])]))
    }

    @Test func decodableConformanceDistinguishesKinds() throws {
        let decoded = try JSONDecoder().decode(JSONValue.self, from: Data(#"[1, 1.5, true, "s", null, {"k": 1}]"#.utf8))
        #expect(
            decoded
                == .array([.integer(1), .number(1.5), .bool(true), .string("s"), .null, .object(["k": .integer(1)])])
        )
        // A JSON 1 must never be taken for a boolean.
        #expect(try JSONDecoder().decode(JSONValue.self, from: Data("1".utf8)) == .integer(1))
        #expect(try JSONDecoder().decode(JSONValue.self, from: Data("false".utf8)) == .bool(false))
    }

    @Test(arguments: [
        (#"{"a": tru}"#, "invalid JSON: unexpected character '}' at line 1, column 10"),
        ("{\n\"a\": 1,\n}", "invalid JSON: unexpected character '}'; expected a string key at line 3, column 1"),
        (#"{"a": 1, "a": 2}"#, #"invalid JSON: duplicate key "a" at line 1, column 10"#),
        ("", "invalid JSON: unexpected end of input at line 1, column 1"),
        (#"{"a": 1} x"#, "invalid JSON: unexpected character 'x' at line 1, column 10"),
        ("[1 2]", "invalid JSON: unexpected character '2'; expected ',' or ']' at line 1, column 4"),
        ("01", "invalid JSON: leading zeros are not allowed in numbers at line 1, column 1"),
        (#""abc"#, "invalid JSON: unterminated string at line 1, column 1"),
        (#""\ud800""#, #"invalid JSON: unpaired surrogate in \u escape at line 1, column 2"#),
        ("// comment\n{}", "invalid JSON: unexpected character '/' at line 1, column 1"),
    ])
    func rejectsInvalidSyntax(input: String, message: String) {
        #expect(throws: ConfigError(path: "", message: message)) { try JSONValue.parse(input) }
    }

    @Test func shortDescriptionQuotesStringsAndTruncates() {
        #expect(JSONValue.string("ten").shortDescription == #""ten""#)
        #expect(JSONValue.integer(15).shortDescription == "15")
        #expect(JSONValue.null.shortDescription == "null")
        #expect(JSONValue.object(["b": .bool(true), "a": .array([])]).shortDescription == #"{"a":[],"b":true}"#)
        let long = JSONValue.string(String(repeating: "x", count: 100)).shortDescription
        #expect(long.count == 40)
        #expect(long.hasSuffix("…"))
        #expect(JSONValue.integer(1).typeDescription == "an integer")
        #expect(JSONValue.string("").typeDescription == "a string")
    }
}

@Suite("ConfigNode and ConfigObject")
struct ConfigNodeTests {
    private func node(_ json: String, path: String = "x") throws -> ConfigNode {
        ConfigNode(path: path, value: try JSONValue.parse(json))
    }

    @Test(arguments: [
        ("\"15s\"", Duration.seconds(15)),
        ("\"500ms\"", .milliseconds(500)),
        ("\"1m30s\"", .seconds(90)),
        ("\"250us\"", .microseconds(250)),
        ("\"1h\"", .seconds(3600)),
        ("\"2m\"", .seconds(120)),
        ("\"0s\"", .zero),
        ("\"10ns\"", .nanoseconds(10)),
        ("\"1.5s\"", .milliseconds(1500)),
        ("\"1h2m3s4ms\"", .milliseconds(3_723_004)),
    ])
    func parsesDurations(json: String, expected: Duration) throws {
        #expect(try node(json).duration() == expected)
    }

    @Test(arguments: [
        ("15", #"x: expected a duration like "15s" or "500ms", got 15"#),
        ("\"ten\"", #"x: expected a duration like "15s" or "500ms", got "ten""#),
        ("\"\"", #"x: expected a duration like "15s" or "500ms", got """#),
        ("\"15\"", #"x: invalid duration "15": missing unit after 15, as in "15s""#),
        ("\"15x\"", #"x: invalid duration "15x": unknown unit "x"; use ns, us, ms, s, m or h"#),
        ("\"-5s\"", #"x: must not be negative, got "-5s""#),
        ("\"s\"", #"x: expected a duration like "15s" or "500ms", got "s""#),
    ])
    func rejectsBadDurations(json: String, message: String) throws {
        let node = try node(json)
        #expect(throws: ConfigError.self) { try node.duration() }
        #expect(Result { () throws(ConfigError) in try node.duration() }.failureDescription == message)
    }

    @Test(arguments: [
        ("4096", 4096),
        ("0", 0),
        ("\"512B\"", 512),
        ("\"64KiB\"", 65536),
        ("\"1MiB\"", 1_048_576),
        ("\"2GiB\"", 2_147_483_648),
        ("\"8 kib\"", 8192),
        ("\"100\"", 100),
    ])
    func parsesByteSizes(json: String, expected: Int) throws {
        #expect(try node(json).byteSize() == expected)
    }

    @Test(arguments: [
        ("-1", "x: must not be negative, got -1"),
        ("\"-1KiB\"", #"x: must not be negative, got "-1KiB""#),
        (
            "\"64KB\"",
            #"x: invalid byte size "64KB": decimal unit "KB" is not accepted; use B, KiB, MiB, GiB or TiB (1024-based)"#
        ),
        (
            "\"1MB\"",
            #"x: invalid byte size "1MB": decimal unit "MB" is not accepted; use B, KiB, MiB, GiB or TiB (1024-based)"#
        ),
        ("\"3XiB\"", #"x: invalid byte size "3XiB": unknown unit "XiB"; use B, KiB, MiB, GiB or TiB"#),
        ("1.5", #"x: expected a byte size like 65536 or "64KiB", got 1.5"#),
        ("\"lots\"", #"x: expected a byte size like 65536 or "64KiB", got "lots""#),
        ("\"99999999999TiB\"", #"x: invalid byte size "99999999999TiB": size is too large"#),
    ])
    func rejectsBadByteSizes(json: String, message: String) throws {
        let node = try node(json)
        #expect(Result { () throws(ConfigError) in try node.byteSize() }.failureDescription == message)
    }

    @Test func scalarReadersCheckTypes() throws {
        #expect(try node("\"a\"").string() == "a")
        #expect(try node("7").int(in: 1...10) == 7)
        #expect(try node("7").double() == 7)
        #expect(try node("0.25").double() == 0.25)
        #expect(try node("false").bool() == false)
        #expect(try node(#"["a", "b"]"#).stringArray() == ["a", "b"])
        #expect(throws: ConfigError(path: "x", message: "expected an integer, got 1.5")) { try node("1.5").int() }
        #expect(throws: ConfigError(path: "x", message: "expected a boolean, got 1")) { try node("1").bool() }
        #expect(throws: ConfigError(path: "x", message: "expected a string, got null")) { try node("null").string() }
        #expect(throws: ConfigError(path: "x", message: #"expected a number, got "1""#)) { try node("\"1\"").double() }
        #expect(throws: ConfigError(path: "x", message: "must be between 1 and 10, got 11")) {
            try node("11").int(in: 1...10)
        }
        #expect(throws: ConfigError(path: "x", message: "must be at least 1024, got 10")) {
            try node("10").byteSize(in: 1024...Int.max)
        }
        #expect(throws: ConfigError(path: "x[1]", message: "expected a string, got 2")) {
            try node(#"["a", 2]"#).stringArray()
        }
    }

    @Test func childPathsAreJoinedWithoutLeadingDot() throws {
        let root = try node(#"{"a": {"b": [0, {"c": true}]}, "odd key": 1}"#, path: "")
        let object = try root.object()
        let inner = try #require(object.node("a")).object()
        #expect(inner.path == "a")
        let array = try #require(inner.node("b")).array()
        #expect(array.map(\.path) == ["a.b[0]", "a.b[1]"])
        let deep = try #require(try array[1].object().node("c"))
        #expect(deep.path == "a.b[1].c")
        #expect(object.node("odd key")?.path == #"["odd key"]"#)
    }

    @Test func objectDefaultsRequireAndFinish() throws {
        let object = try node(#"{"present": 5, "nothing": null, "extra": 1, "another": 2}"#, path: "p").object()
        #expect(try object.decode("present", default: 1) { node throws(ConfigError) in try node.int() } == 5)
        #expect(try object.decode("absent", default: 9) { node throws(ConfigError) in try node.int() } == 9)
        #expect(throws: ConfigError(path: "p.nothing", message: "expected an integer, got null")) {
            try object.decode("nothing", default: 1) { node throws(ConfigError) in try node.int() }
        }
        #expect(throws: ConfigError(path: "p.missing", message: "required key is missing")) {
            try object.require("missing") { node throws(ConfigError) in try node.int() }
        }
        #expect(try object.decodeIfPresent("absent2") { node throws(ConfigError) in try node.int() } == nil)
        #expect(
            throws: ConfigError(
                path: "p.another",
                message: "unknown key; known keys: absent, absent2, missing, nothing, present"
            )
        ) { try object.finish() }
        object.declare("another", "extra")
        try object.finish()
    }
}

@Suite("IPAddressRange")
struct IPAddressRangeTests {
    private func address(_ text: String) throws -> SocketAddress {
        try SocketAddress(ipAddress: text, port: 0)
    }

    @Test func parsesAndPrintsCanonically() throws {
        #expect(try IPAddressRange(parsing: "127.0.0.0/8").description == "127.0.0.0/8")
        #expect(try IPAddressRange(parsing: "10.1.2.3").description == "10.1.2.3/32")
        #expect(try IPAddressRange(parsing: "::1").description == "::1/128")
        #expect(try IPAddressRange(parsing: "2001:DB8::/32").description == "2001:db8::/32")
        #expect(try IPAddressRange(parsing: "::/0").description == "::/0")
        #expect(try IPAddressRange(parsing: "::ffff:10.0.0.0/104").description == "10.0.0.0/8")
        #expect(try IPAddressRange(parsing: "127.0.0.0/8") == IPAddressRange.loopbackV4)
        #expect(try IPAddressRange(parsing: "::1/128") == IPAddressRange.loopbackV6)
    }

    @Test(arguments: [
        ("10.0.0.0/33", "prefix length must be between 0 and 32"),
        ("::/129", "prefix length must be between 0 and 128"),
        ("10.0.0.0/", "prefix length must be between 0 and 32"),
        ("10.0.0.0/+8", "prefix length must be between 0 and 32"),
        ("10.0.0/8", "not an IPv4 or IPv6 address"),
        ("localhost", "not an IPv4 or IPv6 address"),
        ("10.1.2.3/8", "host bits are set; did you mean 10.0.0.0/8?"),
    ])
    func rejectsMalformedRanges(text: String, reason: String) {
        let expected = ConfigError(path: "", message: "invalid IP address range \"\(text)\": \(reason)")
        #expect(throws: expected) { try IPAddressRange(parsing: text) }
    }

    @Test func matchesIPv4() throws {
        let range = try IPAddressRange(parsing: "127.0.0.0/8")
        #expect(range.contains(try address("127.0.0.1")))
        #expect(range.contains(try address("127.255.255.254")))
        #expect(!range.contains(try address("128.0.0.1")))
        #expect(!range.contains(try address("10.0.0.1")))
        #expect(!range.contains(try address("::1")))
    }

    @Test func matchesIPv6() throws {
        let range = try IPAddressRange(parsing: "2001:db8::/32")
        #expect(range.contains(try address("2001:db8:1::5")))
        #expect(!range.contains(try address("2001:db9::5")))
        #expect(!range.contains(try address("10.0.0.1")))
        #expect(IPAddressRange.loopbackV6.contains(try address("::1")))
        #expect(!IPAddressRange.loopbackV6.contains(try address("::2")))
    }

    @Test func matchesIPv4MappedAddressesAsIPv4() throws {
        let range = try IPAddressRange(parsing: "127.0.0.0/8")
        #expect(range.contains(try address("::ffff:127.0.0.1")))
        #expect(!range.contains(try address("::ffff:10.0.0.1")))
        let mappedRange = try IPAddressRange(parsing: "::ffff:127.0.0.1")
        #expect(mappedRange.contains(try address("127.0.0.1")))
    }

    @Test func zeroPrefixMatchesEverythingOfItsFamily() throws {
        let v4 = try IPAddressRange(parsing: "0.0.0.0/0")
        let v6 = try IPAddressRange(parsing: "::/0")
        #expect(v4.contains(try address("203.0.113.9")))
        #expect(v4.contains(try address("::ffff:203.0.113.9")))
        #expect(!v4.contains(try address("2001:db8::1")))
        #expect(v6.contains(try address("2001:db8::1")))
        #expect(!v6.contains(try address("203.0.113.9")))
    }

    @Test func singleHostMatchesOnlyItself() throws {
        let range = try IPAddressRange(parsing: "10.1.2.3")
        #expect(range.contains(try address("10.1.2.3")))
        #expect(!range.contains(try address("10.1.2.4")))
    }

    @Test func unixSocketsNeverMatch() throws {
        let range = try IPAddressRange(parsing: "0.0.0.0/0")
        #expect(!range.contains(try SocketAddress(unixDomainSocketPath: "/tmp/sse.sock")))
    }
}

@Suite("GatewayConfiguration")
struct GatewayConfigurationTests {
    @Test func emptyObjectGivesDefaults() throws {
        let config = try GatewayConfiguration(jsonString: "{}")
        #expect(config == GatewayConfiguration())
        #expect(config.server.host == "0.0.0.0")
        #expect(config.server.port == 8080)
        #expect(config.server.threads == 0)
        #expect(config.server.maxConnections == 10_000)
        #expect(config.server.retryAfter == .seconds(5))
        #expect(config.server.maxHeaderBytes == 8192)
        #expect(config.server.maxConnectionsPerAddress == 0)
        #expect(config.server.maxRequestLineBytes == 8192)
        #expect(config.server.maxHeaderCount == 100)
        #expect(config.server.requestHeaderTimeout == .seconds(10))
        #expect(config.server.requestBodyTimeout == .seconds(10))
        #expect(config.server.middlewareTimeout == .seconds(10))
        #expect(config.server.keepAliveTimeout == .seconds(60))
        #expect(config.server.backlog == 1024)
        #expect(config.server.readBufferBytes == 512)
        #expect(config.hub.maxBodyBytes == 1_048_576)
        #expect(config.hub.publishAllowedFrom.map(\.description) == ["127.0.0.0/8", "::1/128"])
        #expect(config.hub.history.size == 1000)
        #expect(config.hub.history.replayUnknownID == true)
        #expect(config.hub.history.maxBytes == 64 * 1_048_576)
        #expect(config.hub.store == .memory)
        #expect(config.hub.history.maxAge == nil)
        #expect(config.hub.history.cacheSize == 1000)
        #expect(config.hub.subscribe.maxSelectors == 100)
        #expect(config.hub.subscribe.maxTemplateSelectors == 32)
        #expect(config.hub.subscribe.maxSelectorBytes == 2048)
        #expect(config.hub.subscribe.maxTemplateExpressions == 4)
        #expect(config.streams.maxBufferedBytes == 1_048_576)
        #expect(config.streams.closeListenerTimeout == .seconds(5))
        #expect(config.logging.level == .info)
        #expect(config.warnings.isEmpty)
    }

    @Test func readsEveryKey() throws {
        let config = try GatewayConfiguration(
            jsonString: """
                {
                  "server": {
                    "host": "127.0.0.1", "port": 0, "threads": 4, "maxConnections": 50, "retryAfter": "2s",
                    "maxHeaderBytes": "16KiB", "requestHeaderTimeout": "1500ms", "keepAliveTimeout": "2m",
                    "backlog": 128, "maxConnectionsPerAddress": 20, "maxRequestLineBytes": "4KiB",
                    "maxHeaderCount": 50, "requestBodyTimeout": "3s", "middlewareTimeout": "750ms",
                    "readBufferBytes": 2048
                  },
                  "hub": {
                    "maxBodyBytes": "64KiB",
                    "publishAllowedFrom": ["10.0.0.0/8", "::1"],
                    "history": {"size": 0, "replayUnknownID": false, "maxBytes": "2MiB"},
                    "store": {"type": "memory"},
                    "subscribe": {
                      "maxSelectors": 1000, "maxTemplateSelectors": 10, "maxSelectorBytes": "4KiB",
                      "maxTemplateExpressions": 0
                    }
                  },
                  "streams": {"maxBufferedBytes": 4096, "closeListenerTimeout": "250ms"},
                  "logging": {"level": "debug"}
                }
                """
        )
        #expect(config.server.host == "127.0.0.1")
        #expect(config.server.port == 0)
        #expect(config.server.threads == 4)
        #expect(config.server.maxConnections == 50)
        #expect(config.server.retryAfter == .seconds(2))
        #expect(config.server.maxHeaderBytes == 16384)
        #expect(config.server.requestHeaderTimeout == .milliseconds(1500))
        #expect(config.server.keepAliveTimeout == .seconds(120))
        #expect(config.server.backlog == 128)
        #expect(config.server.readBufferBytes == 2048)
        #expect(config.server.maxConnectionsPerAddress == 20)
        #expect(config.server.maxRequestLineBytes == 4096)
        #expect(config.server.maxHeaderCount == 50)
        #expect(config.server.requestBodyTimeout == .seconds(3))
        #expect(config.server.middlewareTimeout == .milliseconds(750))
        #expect(config.hub.maxBodyBytes == 65536)
        #expect(config.hub.publishAllowedFrom.map(\.description) == ["10.0.0.0/8", "::1/128"])
        #expect(config.hub.history.size == 0)
        #expect(config.hub.history.replayUnknownID == false)
        #expect(config.hub.history.maxBytes == 2 * 1_048_576)
        #expect(config.hub.subscribe.maxSelectors == 1000)
        #expect(config.hub.subscribe.maxTemplateSelectors == 10)
        #expect(config.hub.subscribe.maxSelectorBytes == 4096)
        #expect(config.hub.subscribe.maxTemplateExpressions == 0)
        #expect(config.streams.maxBufferedBytes == 4096)
        #expect(config.streams.closeListenerTimeout == .milliseconds(250))
        #expect(config.logging.level == .debug)
        #expect(config.warnings.isEmpty)
    }

    @Test(arguments: [
        (#"{"hub": {"history": {"size": "ten"}}}"#, #"hub.history.size: expected an integer, got "ten""#),
        (#"{"server": []}"#, "server: expected an object, got []"),
        ("[]", "expected an object, got []"),
        (#"{"hub": {"history": {"replayUnknownID": 1}}}"#, "hub.history.replayUnknownID: expected a boolean, got 1"),
        (#"{"server": {"host": 1}}"#, "server.host: expected a string, got 1"),
        (#"{"server": {"host": ""}}"#, "server.host: must not be empty"),
        (#"{"server": {"port": null}}"#, "server.port: expected an integer, got null"),
        (
            #"{"hub": {"subscribe": {"maxTemplateExpressions": "4"}}}"#,
            #"hub.subscribe.maxTemplateExpressions: expected an integer, got "4""#
        ),
        (#"{"hub": {"subscribe": 32}}"#, "hub.subscribe: expected an object, got 32"),
    ])
    func reportsWrongTypes(json: String, message: String) {
        #expect(configError(json) == message)
    }

    @Test func rejectsUnknownTopLevelKey() {
        #expect(
            configError(#"{"sever": {}}"#)
                == "sever: unknown key; known keys: hub, logging, middleware, routes, server, shutdown, streams")
    }

    @Test func rejectsUnknownNestedKeys() {
        #expect(
            configError(#"{"server": {"prot": 80}}"#)
                == "server.prot: unknown key; known keys: backlog, host, http2, keepAliveTimeout, maxConnections, "
                + "maxConnectionsPerAddress, maxHeaderBytes, maxHeaderCount, maxRequestLineBytes, middlewareTimeout, "
                + "port, readBufferBytes, requestBodyTimeout, requestHeaderTimeout, retryAfter, threads, tls"
        )
        #expect(
            configError(#"{"hub": {"history": {"size": 1, "max": 2}}}"#)
                == "hub.history.max: unknown key; known keys: cacheSize, maxAge, maxBytes, replayUnknownID, size"
        )
        #expect(
            configError(#"{"hub": {"subscribe": {"maxTopics": 5}}}"#)
                == "hub.subscribe.maxTopics: unknown key; known keys: maxSelectorBytes, maxSelectors, "
                + "maxTemplateExpressions, maxTemplateSelectors"
        )
        #expect(
            configError(#"{"streams": {"z": 1, "b": 2}}"#)
                == "streams.b: unknown key; known keys: closeListenerTimeout, maxBufferedBytes, writeDelay"
        )
        #expect(configError(#"{"logging": {"format": "json"}}"#) == "logging.format: unknown key; known keys: level")
    }

    @Test(arguments: [
        (#"{"server": {"port": 70000}}"#, "server.port: must be between 0 and 65535, got 70000"),
        (#"{"server": {"threads": -1}}"#, "server.threads: must be between 0 and 256, got -1"),
        (#"{"server": {"maxConnections": 0}}"#, "server.maxConnections: must be between 1 and 1000000, got 0"),
        (
            #"{"server": {"maxConnectionsPerAddress": -1}}"#,
            "server.maxConnectionsPerAddress: must be between 0 and 1000000, got -1"
        ),
        (
            #"{"server": {"maxRequestLineBytes": 100}}"#,
            "server.maxRequestLineBytes: must be between 256 and 1048576, got 100"
        ),
        (#"{"server": {"maxHeaderCount": 2}}"#, "server.maxHeaderCount: must be between 8 and 10000, got 2"),
        (
            #"{"server": {"requestBodyTimeout": 10}}"#,
            #"server.requestBodyTimeout: expected a duration like "15s" or "500ms", got 10"#
        ),
        (
            #"{"server": {"middlewareTimeout": "-1s"}}"#,
            #"server.middlewareTimeout: must not be negative, got "-1s""#
        ),
        (
            #"{"server": {"maxHeaderBytes": "2MiB"}}"#,
            #"server.maxHeaderBytes: must be between 1024 and 1048576, got "2MiB""#
        ),
        (
            #"{"hub": {"history": {"size": 10000001}}}"#,
            "hub.history.size: must be between 0 and 10000000, got 10000001"
        ),
        (#"{"streams": {"maxBufferedBytes": 100}}"#, "streams.maxBufferedBytes: must be at least 1024, got 100"),
        (
            #"{"hub": {"store": {}}}"#,
            "hub.store.type: required key is missing"
        ),
        (#"{"hub": {"history": {"maxAge": "10ms"}}}"#, "hub.history.maxAge: must be at least 1s"),
        (#"{"hub": {"history": {"cacheSize": -1}}}"#, "hub.history.cacheSize: must be between 0 and 10000000, got -1"),
        (
            #"{"hub": {"subscribe": {"maxSelectors": 0}}}"#,
            "hub.subscribe.maxSelectors: must be between 1 and 1000, got 0"
        ),
        (
            #"{"hub": {"subscribe": {"maxSelectors": 1001}}}"#,
            "hub.subscribe.maxSelectors: must be between 1 and 1000, got 1001"
        ),
        (
            #"{"hub": {"subscribe": {"maxSelectorBytes": "2MiB"}}}"#,
            #"hub.subscribe.maxSelectorBytes: must be between 1 and 1048576, got "2MiB""#
        ),
        (
            #"{"hub": {"subscribe": {"maxTemplateExpressions": -1}}}"#,
            "hub.subscribe.maxTemplateExpressions: must be between 0 and 10000, got -1"
        ),
    ])
    func reportsOutOfRange(json: String, message: String) {
        #expect(configError(json) == message)
    }

    @Test func reportsBadDuration() {
        #expect(
            configError(#"{"server": {"retryAfter": 15}}"#)
                == #"server.retryAfter: expected a duration like "15s" or "500ms", got 15"#
        )
        #expect(
            configError(#"{"streams": {"closeListenerTimeout": "5 seconds"}}"#)
                == #"streams.closeListenerTimeout: invalid duration "5 seconds": unknown unit " seconds"; "#
                + "use ns, us, ms, s, m or h"
        )
    }

    @Test func reportsBadByteSize() {
        #expect(
            configError(#"{"hub": {"maxBodyBytes": "1MB"}}"#)
                == #"hub.maxBodyBytes: invalid byte size "1MB": decimal unit "MB" is not accepted; "#
                + "use B, KiB, MiB, GiB or TiB (1024-based)"
        )
        #expect(configError(#"{"hub": {"maxBodyBytes": -5}}"#) == "hub.maxBodyBytes: must not be negative, got -5")
    }

    @Test func reportsBadRangeWithItsIndex() {
        #expect(
            configError(#"{"hub": {"publishAllowedFrom": ["127.0.0.1", "::1", "10.0.0.0/33"]}}"#)
                == #"hub.publishAllowedFrom[2]: invalid IP address range "10.0.0.0/33": "#
                + "prefix length must be between 0 and 32"
        )
        #expect(
            configError(#"{"hub": {"publishAllowedFrom": ["127.0.0.1", 5]}}"#)
                == "hub.publishAllowedFrom[1]: expected a string, got 5"
        )
    }

    @Test func reportsBadLogLevel() {
        #expect(
            configError(#"{"logging": {"level": "loud"}}"#)
                == #"logging.level: expected one of trace, debug, info, notice, warning, error, critical, got "loud""#
        )
        #expect(GatewayConfiguration.LogLevel.allCases.count == 7)
    }

    @Test func reportsInvalidJSON() {
        #expect(
            configError("{\"server\": {\"port\": 80,}}") == "invalid JSON: unexpected character '}'; "
                + "expected a string key at line 1, column 24")
    }

    @Test func warnsWhenPublishingIsOpen() throws {
        let open = try GatewayConfiguration(jsonString: #"{"hub": {"publishAllowedFrom": ["::/0"]}}"#)
        #expect(open.warnings.count == 1)
        #expect(open.warnings.first?.contains("publishing is open to every address") == true)
        let local = try GatewayConfiguration(
            jsonString: #"{"server": {"host": "127.0.0.1"}, "hub": {"publishAllowedFrom": ["0.0.0.0/0"]}}"#
        )
        #expect(local.warnings.isEmpty)
    }

    @Test func loadsFromFile() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "cfgtest-\(UInt64.random(in: 0...UInt64.max))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("gateway.json")
        try Data(#"{"server": {"port": 9090}}"#.utf8).write(to: file)
        let config = try GatewayConfiguration.load(path: file.path)
        #expect(config.server.port == 9090)

        try Data(#"{"server": {"port": "x"}}"#.utf8).write(to: file)
        #expect(throws: ConfigError(path: "server.port", message: #"expected an integer, got "x""#)) {
            try GatewayConfiguration.load(path: file.path)
        }
        #expect(throws: ConfigError(path: "", message: "cannot read config file \(directory.path): it is a directory"))
        {
            try GatewayConfiguration.load(path: directory.path)
        }
    }

    @Test func reportsMissingFile() {
        let path = "/nonexistent/sse-gateway-config.json"
        #expect(throws: ConfigError(path: "", message: "cannot read config file \(path): no such file")) {
            try GatewayConfiguration.load(path: path)
        }
        #expect(
            ConfigError(path: "", message: "cannot read config file \(path): no such file").description
                == "cannot read config file \(path): no such file"
        )
    }
}

extension Result where Failure == ConfigError {
    fileprivate var failureDescription: String? {
        if case .failure(let error) = self { error.description } else { nil }
    }
}
