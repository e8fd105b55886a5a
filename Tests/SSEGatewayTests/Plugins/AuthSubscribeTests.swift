import Foundation
import JWTKit
import Testing

@testable import Auth
@testable import SSEGateway

extension AuthTests {
    @Suite("Subscribers: tokens, anonymity and private updates")
    struct SubscribeTests {
        @Test func withoutATokenASubscriberIsRefusedUnlessAnonymousIsOn() async throws {
            try await TestGateway.run(configuration: AuthFixture.configuration()) { _, port in
                let refused = try await RawClient.subscribeResponse(port: port)
                #expect(refused.status == 401)
                #expect(refused.header("WWW-Authenticate") == "Bearer")
                #expect(refused.body.hasPrefix("subscribing requires a token"))
                #expect(refused.body.filter { $0 == "\n" }.count == 1)
            }
            try await TestGateway.run(configuration: AuthFixture.configuration(["anonymous": .bool(true)])) { _, port in
                let anonymous = try await RawClient.subscribeResponse(port: port)
                #expect(anonymous.status == 200)
            }
        }

        @Test func privateUpdatesFollowTheSubscribeClaim() async throws {
            let matching = try await AuthFixture.subscriberToken(
                TestTokenClaims(subscribe: ["https://example.com/books/{id}"]))
            let namespaced = try await AuthFixture.subscriberToken(
                TestTokenClaims(subscribe: ["https://example.com/books/1"], namespaced: true))
            let other = try await AuthFixture.subscriberToken(
                TestTokenClaims(subscribe: ["https://example.com/users/{id}"]))
            let publisherToken = try await AuthFixture.publisherToken()
            try await TestGateway.run(configuration: AuthFixture.configuration(["anonymous": .bool(true)])) { _, port in
                let query = "topic=https%3A%2F%2Fexample.com%2Fbooks%2F1"
                let allowed = try await TestSubscriber.open(
                    port: port, query: query, headers: ["Authorization: Bearer \(matching)"])
                let allowedNamespaced = try await TestSubscriber.open(
                    port: port, query: query, headers: ["Authorization: Bearer \(namespaced)"])
                let notAllowed = try await TestSubscriber.open(
                    port: port, query: query, headers: ["Authorization: Bearer \(other)"])
                let anonymous = try await TestSubscriber.open(port: port, query: query)
                let publisher = try await TestPublisher.connect(port: port)
                let auth = ["Authorization: Bearer \(publisherToken)"]
                let topic = "https://example.com/books/1"
                #expect(
                    try await publisher.publish(
                        [("topic", topic), ("data", "secret"), ("private", "on"), ("id", "private-1")], headers: auth
                    ).status == 200)
                #expect(
                    try await publisher.publish(
                        [("topic", topic), ("data", "public"), ("id", "public-1")], headers: auth
                    )
                    .status == 200)
                // The public update comes after the private one on every stream, so once it has arrived, a
                // private update that was going to arrive would have.
                for subscriber in [allowed, allowedNamespaced] {
                    try await subscriber.waitForEvents(2)
                    #expect(try await subscriber.ids() == ["private-1", "public-1"])
                }
                for subscriber in [notAllowed, anonymous] {
                    try await subscriber.waitForEvents(1)
                    #expect(try await subscriber.ids() == ["public-1"])
                }
            }
        }

        @Test func theSessionCarriesTheSubscribeSelectorsAndPayload() async throws {
            let collector = SessionCollector()
            let token = try await AuthFixture.subscriberToken(
                TestTokenClaims(subscribe: ["a", "b/{x}"], payload: ["user": "alice"]))
            try await TestGateway.run(middleware: [collector], configuration: AuthFixture.configuration()) { _, port in
                _ = try await TestSubscriber.open(
                    port: port, query: "topic=a", headers: ["Authorization: Bearer \(token)"])
                let session = try #require(collector.sessions.withLockedValue { $0.first })
                #expect(
                    session.claims
                        == SubscriberClaims(
                            subscribe: [TopicSelector("a"), TopicSelector("b/{x}")],
                            payload: .object(["user": .string("alice")])))
            }
        }

        @Test func tokensThatAreNotGenuineOrNotValidNowAreRefused() async throws {
            let secret = AuthFixture.subscriberSecret
            let cases: [(token: String, reason: String)] = [
                (
                    try await AuthFixture.hmac(TestTokenClaims(subscribe: ["*"], expiresIn: -10), secret: secret),
                    "invalid token: the token expired at "
                ),
                (
                    try await AuthFixture.hmac(TestTokenClaims(subscribe: ["*"], notBeforeIn: 600), secret: secret),
                    "invalid token: the token is not valid before "
                ),
                (
                    try await AuthFixture.hmac(TestTokenClaims(subscribe: ["*"]), secret: secret, digest: .sha384),
                    "invalid token: the token is signed with HS384; this hub expects HS256\n"
                ),
                (
                    try await AuthFixture.unsigned(TestTokenClaims(subscribe: ["*"])),
                    "invalid token: unsigned tokens (alg none) are refused\n"
                ),
                (
                    try await AuthFixture.hmac(TestTokenClaims(subscribe: ["*"]), secret: AuthFixture.publisherSecret),
                    "invalid token: the signature does not match\n"
                ),
                (
                    try await AuthFixture.subscriberToken(
                        TestTokenClaims(subscribe: (0...1000).map { "topic-\($0)" })),
                    "invalid token: mercure.subscribe holds 1001 selectors; at most 1000 are allowed\n"
                ),
                ("not-a-jwt", "invalid token: the token is not a compact JWS (header.payload.signature)\n"),
            ]
            var configuration = AuthFixture.configuration(["anonymous": .bool(true)])
            configuration.server.maxHeaderBytes = 64 * 1024
            try await TestGateway.run(configuration: configuration) { _, port in
                for (token, reason) in cases {
                    let response = try await RawClient.subscribeResponse(
                        port: port, headers: ["Authorization: Bearer \(token)"])
                    #expect(response.status == 401, "\(reason)")
                    #expect(response.header("WWW-Authenticate") == #"Bearer error="invalid_token""#)
                    #expect(response.body.hasPrefix(reason))
                }
            }
        }

        @Test func aTamperedPayloadFailsTheSignature() async throws {
            let token = try await AuthFixture.subscriberToken(TestTokenClaims(subscribe: ["a"]))
            let parts = token.split(separator: ".")
            let forged = Data(#"{"mercure":{"subscribe":["*"]}}"#.utf8).base64EncodedString()
                .replacingOccurrences(of: "=", with: "").replacingOccurrences(of: "+", with: "-")
                .replacingOccurrences(of: "/", with: "_")
            let tampered = "\(parts[0]).\(forged).\(parts[2])"
            try await TestGateway.run(configuration: AuthFixture.configuration()) { _, port in
                let response = try await RawClient.subscribeResponse(
                    port: port, headers: ["Authorization: Bearer \(tampered)"])
                #expect(response.status == 401)
                #expect(response.body == "invalid token: the signature does not match\n")
            }
        }

        @Test func aWrongClaimShapeIsNamed() async throws {
            struct StringClaim: JWTPayload {
                var mercure: [String: String]
                func verify(using algorithm: some JWTAlgorithm) async throws {}
            }
            let keys = JWTKeyCollection()
            await keys.add(hmac: HMACKey(from: AuthFixture.subscriberSecret), digestAlgorithm: .sha256)
            let token = try await keys.sign(StringClaim(mercure: ["subscribe": "*"]))
            try await TestGateway.run(configuration: AuthFixture.configuration()) { _, port in
                let response = try await RawClient.subscribeResponse(
                    port: port, headers: ["Authorization: Bearer \(token)"])
                #expect(response.status == 401)
                #expect(response.body == "invalid token: mercure.subscribe must be an array of strings\n")
            }
        }

        @Test func aCustomVerifierIsUsedAndItsFailuresNeverBecome500() async throws {
            struct Stub: TokenVerifier {
                func verify(_ token: String) async throws -> MercureClaims {
                    switch token {
                    case "good": return MercureClaims(subscribe: ["*"])
                    case "refused": throw InvalidTokenError("revoked")
                    default: throw CancellationError()
                    }
                }
            }
            var configuration = AuthMiddleware.Configuration()
            configuration.subscriber = Stub()
            configuration.publisher = Stub()
            let auth = AuthMiddleware(configuration: configuration)
            try await TestGateway.run(middleware: [auth]) { _, port in
                #expect(
                    try await RawClient.subscribeResponse(port: port, headers: ["Authorization: Bearer good"]).status
                        == 200)
                let refused = try await RawClient.subscribeResponse(
                    port: port, headers: ["Authorization: Bearer refused"])
                #expect(refused.status == 401)
                #expect(refused.body == "invalid token: revoked\n")
                let failed = try await RawClient.subscribeResponse(port: port, headers: ["Authorization: Bearer other"])
                #expect(failed.status == 401)
                #expect(failed.body == "invalid token: the token could not be verified\n")
            }
        }

        @Test func theInjectedClockJudgesExpiry() async throws {
            var configuration = AuthMiddleware.Configuration()
            configuration.subscriber = try JWTKitVerifier(
                algorithm: .hs256, key: Array(AuthFixture.subscriberSecret.utf8))
            configuration.publisher = configuration.subscriber
            let twoHoursLater = AuthMiddleware.Dependencies(
                now: { Date().addingTimeInterval(7200) }, random: { $0.upperBound })
            let auth = AuthMiddleware(configuration: configuration, dependencies: twoHoursLater)
            let token = try await AuthFixture.subscriberToken(TestTokenClaims(subscribe: ["*"], expiresIn: 3600))
            try await TestGateway.run(middleware: [auth]) { _, port in
                let response = try await RawClient.subscribeResponse(
                    port: port, headers: ["Authorization: Bearer \(token)"])
                #expect(response.status == 401)
                #expect(response.body.hasPrefix("invalid token: the token expired at "))
            }
        }
    }
}
