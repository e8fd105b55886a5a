import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOEmbedded
import Testing

@testable import Auth
@testable import SSEGateway

extension AuthTests {
    @Suite("Sessions close when their token expires")
    struct ExpiryTests {
        @Test func theDelayIsTheChosenFractionOfTheRemainingLifetime() {
            let now = Date(timeIntervalSince1970: 1_000_000)
            let expiry = now.addingTimeInterval(10)
            #expect(ExpirySchedule.delay(until: expiry, now: now, fraction: 0.8) == .seconds(8))
            #expect(ExpirySchedule.delay(until: expiry, now: now, fraction: 1.0) == .seconds(10))
            #expect(ExpirySchedule.delay(until: expiry, now: now, fraction: 0.9) == .milliseconds(9000))
            // A random source out of range cannot move the close outside the window.
            #expect(ExpirySchedule.delay(until: expiry, now: now, fraction: 0.1) == .seconds(8))
            #expect(ExpirySchedule.delay(until: expiry, now: now, fraction: 7) == .seconds(10))
            #expect(ExpirySchedule.delay(until: now.addingTimeInterval(1e12), now: now, fraction: 1) == nil)
        }

        @Test func theTimerEndsExactlyOnceWhicheverComesFirst() {
            let loop = EmbeddedEventLoop()
            let counter = LiveResourceCount()
            func schedule(_ body: @escaping @Sendable () -> Void = {}) -> (Scheduled<Void>, NIOLockedValueBox<Bool>) {
                let cancelled = NIOLockedValueBox(false)
                let task = loop.scheduleTask(in: .seconds(1), body)
                task.futureResult.whenFailure { _ in cancelled.withLockedValue { $0 = true } }
                return (task, cancelled)
            }

            // The session ended while the connect phase was still running: arming cancels the task, uncounted.
            let closedEarly = ExpiryTimer(counter: counter)
            closedEarly.cancel()
            let (early, earlyCancelled) = schedule()
            closedEarly.arm(early)
            #expect(earlyCancelled.withLockedValue { $0 })
            #expect(counter.value == 0)

            // Armed, then fired: counted while armed; the later will-close listener changes nothing.
            let expiring = ExpiryTimer(counter: counter)
            let fired = NIOLockedValueBox<[Bool]>([])
            let (task, _) = schedule { fired.withLockedValue { $0.append(expiring.fire()) } }
            expiring.arm(task)
            #expect(counter.value == 1)
            loop.advanceTime(by: .seconds(1))
            #expect(fired.withLockedValue { $0 } == [true])
            #expect(counter.value == 0)
            expiring.cancel()
            #expect(counter.value == 0)
            #expect(!expiring.fire())

            // Armed, then the session closed: the task is cancelled and the count drops once.
            let leaving = ExpiryTimer(counter: counter)
            let (pending, pendingCancelled) = schedule()
            leaving.arm(pending)
            #expect(counter.value == 1)
            leaving.cancel()
            leaving.cancel()
            #expect(pendingCancelled.withLockedValue { $0 })
            #expect(counter.value == 0)
            #expect(!leaving.fire())
            try? loop.syncShutdownGracefully()
        }

        /// Opens a stream whose token expires `lifetime` seconds from now, and returns its session's close reason
        /// and how long after the token was made the session closed.
        static func expire(
            lifetime: Double,
            dependencies: AuthMiddleware.Dependencies
        ) async throws -> (
            reason: CloseReason, after: Duration, metrics: String, timersWhileOpen: Int, timersAfterClose: Int
        ) {
            var configuration = AuthMiddleware.Configuration()
            configuration.subscriber = try JWTKitVerifier(
                algorithm: .hs256, key: Array(AuthFixture.subscriberSecret.utf8))
            configuration.publisher = configuration.subscriber
            let auth = AuthMiddleware(configuration: configuration, dependencies: dependencies)
            let collector = SessionCollector()
            return try await TestGateway.run(middleware: [auth, collector]) { server, port in
                let start = ContinuousClock.now
                let token = try await AuthFixture.subscriberToken(
                    TestTokenClaims(subscribe: ["*"], expiresIn: lifetime))
                let subscriber = try await TestSubscriber.open(
                    port: port, query: "topic=t", headers: ["Authorization: Bearer \(token)"])
                let timers = auth.liveExpiryTimers
                let session = try #require(collector.sessions.withLockedValue { $0.first })
                let (stream, continuation) = AsyncStream.makeStream(of: (CloseReason, ContinuousClock.Instant).self)
                session.addWillCloseListener { _, reason in continuation.yield((reason, .now)) }
                var iterator = stream.makeAsyncIterator()
                let (reason, closedAt) = try #require(await iterator.next())
                try await subscriber.client.waitForClose()
                _ = try await session.closeFuture.get()
                return (reason, closedAt - start, server.renderMetrics(), timers, auth.liveExpiryTimers)
            }
        }

        @Test func theSessionClosesWithinTheWindowWithReasonAuthExpired() async throws {
            let ranges = NIOLockedValueBox<[ClosedRange<Double>]>([])
            let dependencies = AuthMiddleware.Dependencies(
                now: { Date() },
                random: { range in
                    ranges.withLockedValue { $0.append(range) }
                    return Double.random(in: range)
                }
            )
            let result = try await Self.expire(lifetime: 1.5, dependencies: dependencies)
            #expect(result.reason == .authExpired)
            #expect(result.timersWhileOpen == 1)
            #expect(ranges.withLockedValue { $0 } == [0.8...1.0])
            #expect(result.after >= .milliseconds(1150), "closed after \(result.after)")
            #expect(result.after <= .milliseconds(1500 + 250), "closed after \(result.after)")
            #expect(result.metrics.contains(#"sse_sessions_closed_total{reason="auth_expired"} 1"#))
            #expect(result.timersAfterClose == 0)
        }

        @Test func theRandomSourceDecidesWhereInTheWindow() async throws {
            let early = try await Self.expire(
                lifetime: 2, dependencies: .init(now: { Date() }, random: { $0.lowerBound }))
            let late = try await Self.expire(
                lifetime: 2, dependencies: .init(now: { Date() }, random: { $0.upperBound }))
            #expect(early.reason == .authExpired)
            #expect(late.reason == .authExpired)
            // 80 % of 2 s is 1.6 s; 100 % is 2 s.
            #expect(early.after >= .milliseconds(1550) && early.after < .milliseconds(1800), "\(early.after)")
            #expect(late.after >= .milliseconds(1950) && late.after < .milliseconds(2250), "\(late.after)")
        }

        @Test func noExpiryTimerOutlivesItsSession() async throws {
            /// Refuses the sessions that subscribe to `refuse`, after auth has armed their timers.
            struct RefuseSome: Middleware {
                func connect(_ session: Session) async throws {
                    if session.topics.contains(TopicSelector("refuse")) {
                        throw HTTPRejection(.forbidden, reason: "refused")
                    }
                }
            }
            var configuration = AuthMiddleware.Configuration()
            configuration.subscriber = try JWTKitVerifier(
                algorithm: .hs256, key: Array(AuthFixture.subscriberSecret.utf8))
            configuration.publisher = configuration.subscriber
            let collector = SessionCollector()
            let token = try await AuthFixture.subscriberToken(TestTokenClaims(subscribe: ["*"], expiresIn: 3600))
            let auth = ["Authorization: Bearer \(token)"]
            let authMiddleware = AuthMiddleware(configuration: configuration)
            try await TestGateway.run(middleware: [authMiddleware, collector, RefuseSome()]) { server, port in
                var refused = 0
                for round in 0..<6 {
                    var subscribers: [TestSubscriber] = []
                    for index in 0..<50 {
                        if index % 5 == 4 {
                            let response = try await RawClient.subscribeResponse(
                                port: port, query: "topic=refuse", headers: auth)
                            #expect(response.status == 403)
                            refused += 1
                        } else {
                            subscribers.append(
                                try await TestSubscriber.open(port: port, query: "topic=t\(round)", headers: auth))
                        }
                    }
                    for session in collector.sessions.withLockedValue({ $0 }) where session.topics[0].raw == "refuse" {
                        #expect(try await session.closeFuture.get() == .rejected)
                    }
                    #expect(authMiddleware.liveExpiryTimers == subscribers.count)
                    for (index, subscriber) in subscribers.enumerated() {
                        if index % 2 == 0 {
                            try await subscriber.client.close()
                        } else {
                            try await subscriber.client.reset()
                        }
                    }
                    let sessions = collector.sessions.withLockedValue { $0 }
                    for session in sessions {
                        _ = try await session.closeFuture.get()
                    }
                    #expect(authMiddleware.liveExpiryTimers == 0, "after round \(round)")
                }
                // Shutdown closes what is still open; its timers go too.
                for _ in 0..<20 {
                    _ = try await TestSubscriber.open(port: port, query: "topic=last", headers: auth)
                }
                #expect(authMiddleware.liveExpiryTimers == 20)
                await server.shutdown()
                #expect(collector.sessions.withLockedValue { $0.count } == 320)
                #expect(refused == 60)
            }
            #expect(authMiddleware.liveExpiryTimers == 0)
        }
    }
}
