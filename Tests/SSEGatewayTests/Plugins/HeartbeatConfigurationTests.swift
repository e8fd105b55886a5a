import Heartbeat
import Testing

@testable import SSEGateway

/// Checks `{"middleware": [entries]}` the way `check-config` does; returns the error, or nil and the warnings.
func middlewareCheck(_ entries: String) -> (error: String?, warnings: [String]) {
    do {
        let configuration = try GatewayConfiguration(jsonString: #"{"middleware": [\#(entries)]}"#)
        return (nil, try GatewayServer.check(configuration: configuration, registry: .plugins))
    } catch {
        return ("\(error)", [])
    }
}

@Suite("Heartbeat settings")
struct HeartbeatConfigurationTests {
    static func read(_ json: String) throws -> HeartbeatMiddleware.Configuration {
        guard case .object(let members) = try JSONValue.parse(json) else { throw ConfigError(path: "", message: json) }
        return try HeartbeatMiddleware.Configuration(settings: ConfigObject(path: "middleware[0]", members: members))
    }

    @Test func defaults() throws {
        let configuration = try Self.read("{}")
        #expect(configuration == HeartbeatMiddleware.Configuration())
        #expect(configuration.interval == .seconds(15))
        #expect(configuration.comment == "")
        #expect(configuration.deadPeerTimeout == .seconds(30))
        #expect(configuration.tcpUserTimeout == .seconds(30))
        #expect(configuration.tcpKeepAlive == nil)
        #expect(middlewareCheck(#"{"use": "heartbeat"}"#).error == nil)
    }

    @Test func readsEverySetting() throws {
        let configuration = try Self.read(
            """
            {"interval": "2s", "comment": "hb", "deadPeerTimeout": "45s", "tcpUserTimeout": "1m",
             "tcpKeepAlive": {"idle": "20s", "interval": "5s", "count": 4}}
            """
        )
        #expect(configuration.interval == .seconds(2))
        #expect(configuration.comment == "hb")
        #expect(configuration.deadPeerTimeout == .seconds(45))
        #expect(configuration.tcpUserTimeout == .seconds(60))
        var keepAlive = HeartbeatMiddleware.TCPKeepAlive()
        keepAlive.idle = .seconds(20)
        keepAlive.interval = .seconds(5)
        keepAlive.count = 4
        #expect(configuration.tcpKeepAlive == keepAlive)
        #expect(try Self.read(#"{"tcpKeepAlive": {}}"#).tcpKeepAlive == HeartbeatMiddleware.TCPKeepAlive())
    }

    @Test func userTimeoutFollowsTheDeadPeerTimeoutAndZeroTurnsThemOff() throws {
        #expect(try Self.read(#"{"deadPeerTimeout": "10s"}"#).tcpUserTimeout == .seconds(10))
        let off = try Self.read(#"{"deadPeerTimeout": "0s"}"#)
        #expect(off.deadPeerTimeout == nil)
        #expect(off.tcpUserTimeout == nil)
        let kernelOnly = try Self.read(#"{"deadPeerTimeout": "0s", "tcpUserTimeout": "20s"}"#)
        #expect(kernelOnly.deadPeerTimeout == nil)
        #expect(kernelOnly.tcpUserTimeout == .seconds(20))
    }

    @Test(arguments: [
        (
            #"{"use": "heartbeat", "interval": 15}"#,
            #"middleware[0].interval: expected a duration like "15s" or "500ms", got 15"#
        ),
        (#"{"use": "heartbeat", "interval": "0s"}"#, "middleware[0].interval: must be greater than 0s"),
        (#"{"use": "heartbeat", "comment": 3}"#, "middleware[0].comment: expected a string, got 3"),
        (
            #"{"use": "heartbeat", "deadPeerTimeout": "-1s"}"#,
            #"middleware[0].deadPeerTimeout: must not be negative, got "-1s""#
        ),
        (
            #"{"use": "heartbeat", "tcpUserTimeout": "1000h"}"#,
            #"middleware[0].tcpUserTimeout: must be at most 596h, got "1000h""#
        ),
        (
            #"{"use": "heartbeat", "tcpKeepAlive": true}"#,
            "middleware[0].tcpKeepAlive: expected an object, got true"
        ),
        (
            #"{"use": "heartbeat", "tcpKeepAlive": {"idle": "1500ms"}}"#,
            #"middleware[0].tcpKeepAlive.idle: must be a whole number of seconds from 1s to 32767s, got "1500ms""#
        ),
        (
            #"{"use": "heartbeat", "tcpKeepAlive": {"interval": "10h"}}"#,
            #"middleware[0].tcpKeepAlive.interval: must be a whole number of seconds from 1s to 32767s, got "10h""#
        ),
        (
            #"{"use": "heartbeat", "tcpKeepAlive": {"count": 0}}"#,
            "middleware[0].tcpKeepAlive.count: must be between 1 and 127, got 0"
        ),
        (
            #"{"use": "heartbeat", "tcpKeepAlive": {"idel": "5s"}}"#,
            "middleware[0].tcpKeepAlive.idel: unknown key; known keys: count, idle, interval"
        ),
        (
            #"{"use": "heartbeat", "intervall": "5s"}"#,
            "middleware[0].intervall: unknown key; known keys: comment, deadPeerTimeout, interval, name, "
                + "tcpKeepAlive, tcpUserTimeout, use"
        ),
        (
            #"{"use": "heartbeat"}, {"use": "heartbeat", "name": "again", "interval": "soon"}"#,
            #"middleware[1].interval: expected a duration like "15s" or "500ms", got "soon""#
        ),
    ])
    func badSettingNamesItsPath(entries: String, message: String) {
        #expect(middlewareCheck(entries).error == message)
    }
}
