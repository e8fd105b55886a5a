import Foundation
import NIOConcurrencyHelpers
import NIOHTTP1
import Testing

@testable import Auth
@testable import SSEGateway

extension AuthTests {
    @Suite("Verified tokens are remembered, their expiry is not")
    struct TokenCacheTests {
        /// Counts verifications and vouches for every token whose text does not start with "bad".
        final class CountingVerifier: TokenVerifier {
            let calls = NIOLockedValueBox(0)
            let claims: MercureClaims

            init(claims: MercureClaims = MercureClaims(publish: ["*"])) {
                self.claims = claims
            }

            func verify(_ token: String) async throws -> MercureClaims {
                self.calls.withLockedValue { $0 += 1 }
                if token.hasPrefix("bad") { throw InvalidTokenError("the signature does not match") }
                return self.claims
            }

            var count: Int { self.calls.withLockedValue { $0 } }
        }

        /// Auth with `verifier` as its publisher key and a clock the test moves (starting at 1,000,000 s).
        static func auth(
            publishing topics: [String], expiresAt: Date = Date(timeIntervalSince1970: 1_000_060)
        ) -> (AuthMiddleware, CountingVerifier, NIOLockedValueBox<Date>) {
            let clock = NIOLockedValueBox(Date(timeIntervalSince1970: 1_000_000))
            let verifier = CountingVerifier(claims: MercureClaims(publish: topics, expiresAt: expiresAt))
            var configuration = AuthMiddleware.Configuration()
            configuration.publisher = verifier
            configuration.anonymous = true
            let auth = AuthMiddleware(
                configuration: configuration,
                dependencies: .init(now: { clock.withLockedValue { $0 } }, random: { $0.upperBound }))
            return (auth, verifier, clock)
        }

        /// A publish of one `data: x` update to `topic`, presenting `authorization`.
        static func publish(to topic: String, authorization: String = "Bearer token") throws -> PublishContext {
            let facts = RequestFacts(
                method: .POST, uri: "/.well-known/mercure", path: "/.well-known/mercure", query: [],
                headers: ["Authorization": authorization], remoteAddress: nil, version: .http1_1)
            let update = try PublishRequest(form: [("topic", topic), ("data", "x")])
            return PublishContext(request: facts, update: update, responseHeaders: [:])
        }

        @Test func aTokenIsVerifiedOnceAndAFailureNever() async throws {
            let verifier = CountingVerifier()
            let cache = VerifiedTokenCache(capacity: 10)
            for _ in 0..<3 { #expect(try await cache.claims(of: "a", by: verifier) == verifier.claims) }
            #expect(verifier.count == 1)
            _ = try await cache.claims(of: "b", by: verifier)
            #expect(verifier.count == 2)
            for _ in 0..<2 {
                await #expect(throws: InvalidTokenError.self) { try await cache.claims(of: "bad", by: verifier) }
            }
            #expect(verifier.count == 4, "a refused token is checked every time it comes")
            #expect(cache.count == 2)
        }

        @Test func theCacheHoldsAtMostItsCapacityAndZeroTurnsItOff() async throws {
            let verifier = CountingVerifier()
            let bounded = VerifiedTokenCache(capacity: 2)
            for token in ["a", "b", "c", "d"] { _ = try await bounded.claims(of: token, by: verifier) }
            #expect(bounded.count == 2)
            #expect(verifier.count == 4)

            let off = VerifiedTokenCache(capacity: 0)
            for _ in 0..<3 { _ = try await off.claims(of: "a", by: verifier) }
            #expect(verifier.count == 7)
            #expect(off.count == 0)
        }

        /// A token accepted (and remembered) while valid is refused once its `exp` has passed on the middleware's
        /// clock.
        @Test func aRememberedTokenIsStillRefusedOnceExpired() async throws {
            let (auth, verifier, clock) = Self.auth(publishing: ["*"])
            func publish() async throws {
                try await auth.publish(try Self.publish(to: "t"))
            }
            try await publish()
            try await publish()
            #expect(verifier.count == 1)
            clock.withLockedValue { $0 = Date(timeIntervalSince1970: 1_000_061) }
            await #expect(throws: HTTPRejection.self) { try await publish() }
            #expect(verifier.count == 1, "the claims came from the cache; the expiry was checked anyway")
        }

        /// A token not seen before makes the publish phase wait for its signature check; once remembered, the phase
        /// decides at once, still checking expiry and scope.
        @Test func aRememberedTokenIsDecidedWithoutSuspending() async throws {
            let (auth, verifier, clock) = Self.auth(publishing: ["books/{id}"])
            let first = try Self.publish(to: "books/1")
            #expect(try auth.publishWithoutSuspending(first) == .suspend)
            #expect(verifier.count == 0 && !first.isAuthorized, "nothing is decided before the signature check")
            try await auth.publish(first)
            #expect(first.isAuthorized && verifier.count == 1)

            let again = try Self.publish(to: "books/2")
            #expect(try auth.publishWithoutSuspending(again) == .finished)
            #expect(again.isAuthorized && verifier.count == 1)

            let outOfScope = try Self.publish(to: "films/1")
            #expect(throws: HTTPRejection.self) { try auth.publishWithoutSuspending(outOfScope) }
            #expect(!outOfScope.isAuthorized)
            #expect(throws: HTTPRejection.self) {
                try auth.publishWithoutSuspending(try Self.publish(to: "b", authorization: ""))
            }

            clock.withLockedValue { $0 = Date(timeIntervalSince1970: 1_000_061) }
            #expect(throws: HTTPRejection.self) { try auth.publishWithoutSuspending(try Self.publish(to: "books/3")) }
            #expect(verifier.count == 1)
        }

        @Test func aTokenCacheSizeOutOfRangeIsRefusedAtItsPath() throws {
            let entry = #"{"use": "auth", "anonymous": true, \#(SettingsTests.publisher), "tokenCacheSize": "#
            #expect(try SettingsTests.check(entry + "0}") == [])
            #expect(try SettingsTests.check(entry + "1000000}") == [])
            for bad in ["-1", "1000001", "\"many\""] {
                #expect {
                    try SettingsTests.check(entry + bad + "}")
                } throws: { error in
                    (error as? ConfigError)?.path == "middleware[0].tokenCacheSize"
                }
            }
        }
    }
}
