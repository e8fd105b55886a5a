import JWTKit
import Testing

@testable import Auth
@testable import SSEGateway

extension AuthTests {
    @Suite("RS256 and ES256 keys from PEM files")
    struct KeyTests {
        @Test func rs256PublisherAndES256SubscriberFromKeyFiles() async throws {
            let rsa = AuthFixture.rsaKey
            let ecdsa = ES256PrivateKey()
            let rsaPath = try writeTemporaryFile(rsa.publicKey.pemRepresentation, name: "publisher.pem")
            let ecdsaPath = try writeTemporaryFile(ecdsa.publicKey.pemRepresentation, name: "subscriber.pem")
            let rsaKeys = JWTKeyCollection()
            await rsaKeys.add(rsa: rsa, digestAlgorithm: .sha256)
            let ecdsaKeys = JWTKeyCollection()
            await ecdsaKeys.add(ecdsa: ecdsa)
            let strangerKeys = JWTKeyCollection()
            await strangerKeys.add(ecdsa: ES256PrivateKey())
            // The algorithm-confusion attack: an HMAC token keyed with the public key the hub verifies with.
            let confusion = try await AuthFixture.hmac(
                TestTokenClaims(subscribe: ["*"]), secret: ecdsa.publicKey.pemRepresentation)

            let publisherToken = try await rsaKeys.sign(TestTokenClaims(publish: ["*"]))
            let subscriberToken = try await ecdsaKeys.sign(TestTokenClaims(subscribe: ["*"]))
            let strangerToken = try await strangerKeys.sign(TestTokenClaims(subscribe: ["*"]))
            let configuration = AuthFixture.configuration([
                "publisher": .object(["algorithm": .string("RS256"), "keyFile": .string(rsaPath)]),
                "subscriber": .object(["algorithm": .string("ES256"), "keyFile": .string(ecdsaPath)]),
            ])
            try await TestGateway.run(configuration: configuration) { _, port in
                let subscriber = try await TestSubscriber.open(
                    port: port, query: "topic=t", headers: ["Authorization: Bearer \(subscriberToken)"])
                let publisher = try await TestPublisher.connect(port: port)
                let published = try await publisher.publish(
                    [("topic", "t"), ("id", "rs")], headers: ["Authorization: Bearer \(publisherToken)"])
                #expect(published.status == 200)
                try await subscriber.waitForEvents(1)
                #expect(try await subscriber.ids() == ["rs"])

                let stranger = try await RawClient.subscribeResponse(
                    port: port, headers: ["Authorization: Bearer \(strangerToken)"])
                #expect(stranger.status == 401)
                #expect(stranger.body == "invalid token: the signature does not match\n")
                let confused = try await RawClient.subscribeResponse(
                    port: port, headers: ["Authorization: Bearer \(confusion)"])
                #expect(confused.status == 401)
                #expect(confused.body == "invalid token: the token is signed with HS256; this hub expects ES256\n")
                // Each role has its own key.
                let crossed = try await publisher.publish(
                    [("topic", "t")], headers: ["Authorization: Bearer \(subscriberToken)"])
                #expect(crossed.status == 401)
                #expect(crossed.body == "invalid token: the token is signed with ES256; this hub expects RS256\n")
            }
        }

        @Test func inlinePEMAndHMACKeyFilesWithATrailingNewline() async throws {
            let ecdsa = ES256PrivateKey()
            let secret = String(repeating: "k", count: 64)
            let secretPath = try writeTemporaryFile(secret + "\n", name: "secret.key")
            let ecdsaKeys = JWTKeyCollection()
            await ecdsaKeys.add(ecdsa: ecdsa)
            let publisherToken = try await ecdsaKeys.sign(TestTokenClaims(publish: ["*"]))
            let subscriberToken = try await AuthFixture.hmac(
                TestTokenClaims(subscribe: ["*"]), secret: secret, digest: .sha512)
            let configuration = AuthFixture.configuration([
                "publisher": .object([
                    "algorithm": .string("ES256"), "key": .string(ecdsa.publicKey.pemRepresentation),
                ]),
                "subscriber": .object(["algorithm": .string("HS512"), "keyFile": .string(secretPath)]),
            ])
            try await TestGateway.run(configuration: configuration) { _, port in
                let subscribed = try await RawClient.subscribeResponse(
                    port: port, headers: ["Authorization: Bearer \(subscriberToken)"])
                #expect(subscribed.status == 200)
                let publisher = try await TestPublisher.connect(port: port)
                let published = try await publisher.publish(
                    [("topic", "t")], headers: ["Authorization: Bearer \(publisherToken)"])
                #expect(published.status == 200)
            }
        }
    }
}
