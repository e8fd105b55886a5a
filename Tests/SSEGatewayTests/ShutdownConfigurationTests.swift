import Testing

@testable import SSEGateway

@Suite("shutdown configuration")
struct ShutdownConfigurationTests {
    private func error(_ json: String) -> String? {
        do {
            _ = try GatewayConfiguration(jsonString: json)
            return nil
        } catch {
            return error.description
        }
    }

    @Test func defaults() throws {
        let shutdown = try GatewayConfiguration(jsonString: "{}").shutdown
        #expect(shutdown.signals == [.sigterm, .sigint])
        #expect(shutdown.readinessGrace == .seconds(5))
        #expect(shutdown.drainTimeout == .seconds(10))
        #expect(shutdown.notice.event == "shutdown")
        #expect(shutdown.notice.data == "server shutting down")
        #expect(shutdown.notice.retryMin == .seconds(1))
        #expect(shutdown.notice.retryMax == .seconds(10))
        #expect(shutdown.handlerTimeout == .seconds(5))
        #expect(shutdown.handlers.isEmpty)
        #expect(shutdown.hardDeadline == .seconds(25))
    }

    @Test func everyKeyIsRead() throws {
        let shutdown = try GatewayConfiguration(
            jsonString: #"""
                {"shutdown": {"signals": ["SIGTERM"], "readinessGrace": "1s", "drainTimeout": "2s",
                              "notice": {"event": "bye", "data": "later", "retryMin": "200ms", "retryMax": "300ms"},
                              "handlerTimeout": "3s", "handlers": {"flush": "750ms"}, "hardDeadline": "20s"}}
                """#
        ).shutdown
        #expect(shutdown.signals == [.sigterm])
        #expect(shutdown.readinessGrace == .seconds(1))
        #expect(shutdown.drainTimeout == .seconds(2))
        #expect(shutdown.notice.event == "bye")
        #expect(shutdown.notice.data == "later")
        #expect(shutdown.notice.retryMin == .milliseconds(200))
        #expect(shutdown.notice.retryMax == .milliseconds(300))
        #expect(shutdown.timeout(forHandler: "flush") == .milliseconds(750))
        #expect(shutdown.timeout(forHandler: "other") == .seconds(3))
        #expect(shutdown.hardDeadline == .seconds(20))
    }

    @Test(
        arguments: [
            (#"{"shutdown": {"signals": ["SIGKILL"]}}"#, "shutdown.signals[0]:"),
            (#"{"shutdown": {"signals": []}}"#, "shutdown.signals: must name at least one signal"),
            (#"{"shutdown": {"drainTimeout": 3}}"#, "shutdown.drainTimeout: expected a duration"),
            (#"{"shutdown": {"handlers": {"flush": "soon"}}}"#, "shutdown.handlers.flush:"),
            (#"{"shutdown": {"notice": {"retryMin": "2s", "retryMax": "1s"}}}"#, "shutdown.notice.retryMax:"),
            (#"{"shutdown": {"notice": {"colour": "red"}}}"#, "shutdown.notice.colour: unknown key"),
            (#"{"shutdown": {"hardDeadline": "0s"}}"#, "shutdown.hardDeadline: must be greater than zero"),
            (
                #"{"shutdown": {"readinessGrace": "5s", "drainTimeout": "10s", "hardDeadline": "12s"}}"#,
                "shutdown.hardDeadline: 12.0 seconds cannot hold readinessGrace + drainTimeout"
            ),
        ]
    )
    func errorsNameTheirPath(json: String, message: String) {
        let description = self.error(json)
        #expect(description?.contains(message) == true, "got \(description ?? "no error")")
    }

    @Test func handlerBudgetsBeyondTheDeadlineAreAWarning() throws {
        let configuration = try GatewayConfiguration(
            jsonString: #"""
                {"shutdown": {"readinessGrace": "1s", "drainTimeout": "1s", "handlers": {"a": "5s"},
                              "hardDeadline": "5s"}}
                """#
        )
        #expect(configuration.warnings.contains { $0.contains("exceed hardDeadline") })
        #expect(
            configuration.shutdown.unknownHandlerWarnings(registered: ["b"])
                == ["shutdown.handlers.a: no shutdown handler is registered under this name"]
        )
        #expect(configuration.shutdown.unknownHandlerWarnings(registered: ["a"]).isEmpty)
    }

    @Test func noticeRetryStaysInItsRange() throws {
        var notice = GatewayConfiguration.Shutdown.Notice()
        notice.retryMin = .milliseconds(100)
        notice.retryMax = .milliseconds(200)
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<1000 {
            let event = notice.event(using: &generator)
            #expect((100...200).contains(try #require(event.retry)))
            #expect(event.type == "shutdown")
        }
    }
}
