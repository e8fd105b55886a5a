import Foundation
import Testing

@testable import Auth
@testable import SSEGateway

extension AuthTests {
    /// Claims grant topics byte for byte: a `mercure.subscribe` or `mercure.publish` selector never covers another
    /// spelling of its topic, even one equal to it as a Swift string.
    @Suite("Claims compare topics byte for byte")
    struct BytewiseTests {
        @Test(arguments: SpellingPair.all)
        func publishClaimsCoverOnlyTheirSpelling(pair: SpellingPair) {
            let first = SpellingPair.url(pair.first)
            let second = SpellingPair.url(pair.second)
            for claim in [first, SpellingPair.url(pair.first, prefix: "{+x}")] {
                let claims = MercureClaims(publish: [claim])
                #expect(ClaimsPolicy.publishScope(of: claims, topics: [first]) == nil)
                #expect(ClaimsPolicy.publishScope(of: claims, topics: [second]) != nil)
                #expect(ClaimsPolicy.publishScope(of: claims, topics: [first, second]) != nil)
            }
            #expect(MercureClaims(publish: [first]) != MercureClaims(publish: [second]))
            #expect(MercureClaims(subscribe: [first]) != MercureClaims(subscribe: [second]))
            #expect(MercureClaims(subscribe: [first]) == MercureClaims(subscribe: [first]))
        }

        @Test(arguments: SpellingPair.all)
        func aPublisherMayNotPublishAnotherSpellingOfItsTopic(pair: SpellingPair) async throws {
            let first = SpellingPair.url(pair.first)
            let second = SpellingPair.url(pair.second)
            let token = try await AuthFixture.publisherToken(TestTokenClaims(publish: [first]))
            try await TestGateway.run(configuration: AuthFixture.configuration()) { _, port in
                let publisher = try await TestPublisher.connect(port: port)
                let auth = ["Authorization: Bearer \(token)"]
                #expect(try await publisher.publish([("topic", first)], headers: auth).status == 200)
                let refused = try await publisher.publish([("topic", second)], headers: auth)
                #expect(refused.status == 403)
                #expect(refused.body.contains("does not cover the topic"))
                #expect(
                    try await publisher.publish([("topic", first), ("topic", second)], headers: auth).status == 403)
            }
        }

        /// Both streams select both spellings and the marker; each token grants one spelling (and the marker), as
        /// an exact topic or as a template. A private update reaches only the stream whose claim has its bytes.
        @Test(arguments: SpellingPair.all, [false, true])
        func privateUpdatesReachOnlyTheClaimedSpelling(pair: SpellingPair, templateClaims: Bool) async throws {
            let topic = { (spelling: String) in SpellingPair.url(spelling, prefix: "9/") }
            let claim = { (spelling: String) in
                templateClaims ? SpellingPair.url(spelling, prefix: "{n}/") : topic(spelling)
            }
            let selectors = [topic(pair.first), topic(pair.second), SpellingPair.marker]
            let firstToken = try await AuthFixture.subscriberToken(
                TestTokenClaims(subscribe: [claim(pair.first), SpellingPair.marker]))
            let secondToken = try await AuthFixture.subscriberToken(
                TestTokenClaims(subscribe: [claim(pair.second), SpellingPair.marker]))
            let publisherToken = try await AuthFixture.publisherToken()
            try await TestGateway.run(configuration: AuthFixture.configuration()) { _, port in
                let first = try await TestSubscriber.open(
                    port: port, query: SpellingPair.query(selectors), headers: ["Authorization: Bearer \(firstToken)"])
                let second = try await TestSubscriber.open(
                    port: port, query: SpellingPair.query(selectors), headers: ["Authorization: Bearer \(secondToken)"])
                let publisher = try await TestPublisher.connect(port: port)
                let auth = ["Authorization: Bearer \(publisherToken)"]
                func publishPrivate(_ topic: String, id: String) async throws {
                    let response = try await publisher.publish(
                        [("topic", topic), ("id", id), ("private", "on")], headers: auth)
                    #expect(response.status == 200)
                }

                try await publishPrivate(topic(pair.first), id: "to-first")
                try await publishPrivate(SpellingPair.marker, id: "marker-1")
                try await first.waitForEvents(2)
                try await second.waitForEvents(1)
                #expect(try await first.ids() == ["to-first", "marker-1"])
                #expect(try await second.ids() == ["marker-1"])

                try await publishPrivate(topic(pair.second), id: "to-second")
                try await publishPrivate(SpellingPair.marker, id: "marker-2")
                try await first.waitForEvents(3)
                try await second.waitForEvents(3)
                #expect(try await first.ids() == ["to-first", "marker-1", "marker-2"])
                #expect(try await second.ids() == ["marker-1", "to-second", "marker-2"])
            }
        }
    }
}
