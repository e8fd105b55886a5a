import Testing
import Timeout

@testable import SSEGateway

@Suite("Timeout settings")
struct TimeoutConfigurationTests {
    static func read(_ json: String) throws -> TimeoutMiddleware.Configuration {
        guard case .object(let members) = try JSONValue.parse(json) else { throw ConfigError(path: "", message: json) }
        return try TimeoutMiddleware.Configuration(settings: ConfigObject(path: "middleware[0]", members: members))
    }

    @Test func defaults() throws {
        let configuration = try Self.read("{}")
        #expect(configuration == TimeoutMiddleware.Configuration())
        #expect(configuration.idle == nil)
        #expect(configuration.maxLifetime == .seconds(3600))
        #expect(configuration.lastEvent == nil)
        #expect(middlewareCheck(#"{"use": "timeout"}"#) == (nil, []))
    }

    @Test func readsEverySetting() throws {
        let configuration = try Self.read(
            """
            {"idle": "5m", "maxLifetime": "2h",
             "lastEvent": {"retry": 2000, "type": "reconnect", "data": "bye", "id": "last"}}
            """
        )
        #expect(configuration.idle == .seconds(300))
        #expect(configuration.maxLifetime == .seconds(7200))
        #expect(configuration.lastEvent == ServerSentEvent(id: "last", type: "reconnect", retry: 2000, data: "bye"))
        let retryOnly = try Self.read(#"{"lastEvent": {"retry": 500}}"#)
        #expect(retryOnly.lastEvent == ServerSentEvent(retry: 500, data: ""))
        #expect(retryOnly.lastEvent?.id == nil, "no id unless configured: the client's Last-Event-ID stays put")
        let off = try Self.read(#"{"idle": "0s", "maxLifetime": "0s"}"#)
        #expect(off.idle == nil && off.maxLifetime == nil)
    }

    @Test func warnsAboutSettingsThatDoNothingOrSurpriseClients() {
        #expect(
            middlewareCheck(#"{"use": "timeout", "maxLifetime": "0s"}"#).warnings
                == ["timeout: neither idle nor maxLifetime is set, so it closes nothing"]
        )
        // A bare retry is sent without a data line and dispatches nothing: no warning.
        #expect(middlewareCheck(#"{"use": "timeout", "lastEvent": {"retry": 2000}}"#).warnings == [])
        let idOnly = middlewareCheck(#"{"use": "timeout", "lastEvent": {"retry": 2000, "id": "x"}}"#).warnings
        #expect(idOnly.count == 1)
        #expect(idOnly.first?.contains("onmessage as an empty message") == true)
        #expect(middlewareCheck(#"{"use": "timeout", "lastEvent": {"retry": 2000, "type": "bye"}}"#).warnings == [])
    }

    @Test(arguments: [
        (
            #"{"use": "timeout", "idle": 30}"#,
            #"middleware[0].idle: expected a duration like "15s" or "500ms", got 30"#
        ),
        (
            #"{"use": "timeout", "maxLifetime": "-5m"}"#,
            #"middleware[0].maxLifetime: must not be negative, got "-5m""#
        ),
        (
            #"{"use": "timeout", "lastEvent": "bye"}"#,
            #"middleware[0].lastEvent: expected an object, got "bye""#
        ),
        (
            #"{"use": "timeout", "lastEvent": {"retry": "2s"}}"#,
            #"middleware[0].lastEvent.retry: expected an integer, got "2s""#
        ),
        (
            #"{"use": "timeout", "lastEvent": {"retry": 0}}"#,
            "middleware[0].lastEvent.retry: must be at least 1, got 0"
        ),
        (
            #"{"use": "timeout", "lastEvent": {"id": "a\nb"}}"#,
            "middleware[0].lastEvent.id: must not contain CR, LF or NUL"
        ),
        (
            #"{"use": "timeout", "lastEvent": {"type": ""}}"#,
            "middleware[0].lastEvent.type: must not be empty"
        ),
        (
            #"{"use": "timeout", "lastEvent": {"data": 1}}"#,
            "middleware[0].lastEvent.data: expected a string, got 1"
        ),
        (
            #"{"use": "timeout", "lastEvent": {"retyr": 5}}"#,
            "middleware[0].lastEvent.retyr: unknown key; known keys: data, id, retry, type"
        ),
        (
            #"{"use": "timeout", "maxlifetime": "1h"}"#,
            "middleware[0].maxlifetime: unknown key; known keys: idle, lastEvent, maxLifetime, name, use"
        ),
    ])
    func badSettingNamesItsPath(entries: String, message: String) {
        #expect(middlewareCheck(entries).error == message)
    }
}
