import Testing

@testable import Auth
@testable import SSEGateway

extension AuthTests {
    @Suite("Publishers: tokens, scope and the cookie origin check")
    struct PublishTests {
        @Test func withoutATokenAPublishIsRefusedEvenFromLoopback() async throws {
            try await TestGateway.run(configuration: AuthFixture.configuration()) { _, port in
                let publisher = try await TestPublisher.connect(port: port)
                let response = try await publisher.publish([("topic", "t"), ("data", "x")])
                #expect(response.status == 401)
                #expect(response.header("WWW-Authenticate") == "Bearer")
                #expect(
                    response.body
                        == "publishing requires a token with a mercure.publish claim (Authorization: Bearer header)\n")
                let invalid = try await publisher.publish([("topic", "t")], headers: ["Authorization: Bearer x.y.z"])
                #expect(invalid.status == 401)
                #expect(invalid.header("WWW-Authenticate") == #"Bearer error="invalid_token""#)
            }
        }

        @Test func aPublisherWaitingForContinueIsRefusedBeforeItsBody() async throws {
            let token = try await AuthFixture.publisherToken(TestTokenClaims(publish: ["https://example.com/{x}"]))
            try await TestGateway.run(configuration: AuthFixture.configuration()) { _, port in
                let body = "topic=https%3A%2F%2Fexample.com%2Fa&data=x"
                func head(_ authorization: String?) -> String {
                    var head = "POST /.well-known/mercure HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
                    head += "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: \(body.utf8.count)\r\n"
                    if let authorization { head += "Authorization: \(authorization)\r\n" }
                    return head + "\r\n"
                }
                for authorization in [nil, "Bearer x.y.z"] {
                    let refused = try await RawClient.connect(port: port)
                    try await refused.send(head(authorization))
                    let response = try await refused.readResponse()
                    #expect(response.status == 401)
                    #expect(response.header("WWW-Authenticate")?.hasPrefix("Bearer") == true)
                    try await refused.waitForClose()
                    #expect(try await !refused.text.contains("100 Continue"), "the body is never asked for")
                }
                let admitted = try await RawClient.connect(port: port)
                try await admitted.send(head("Bearer \(token)"))
                try await admitted.waitFor(text: "HTTP/1.1 100 Continue\r\n\r\n")
                try await admitted.send(body)
                try await admitted.waitFor(text: "urn:uuid:")
                #expect(try await admitted.text.contains("HTTP/1.1 200 OK"))
            }
        }

        @Test func theTokenMustCoverEveryTopic() async throws {
            let books = try await AuthFixture.publisherToken(
                TestTokenClaims(publish: ["https://example.com/books/{id}"]))
            let everything = try await AuthFixture.publisherToken(TestTokenClaims(publish: ["*"]))
            let nothing = try await AuthFixture.publisherToken(TestTokenClaims(publish: []))
            let noClaim = try await AuthFixture.publisherToken(TestTokenClaims(subscribe: ["*"]))
            let subscriberKey = try await AuthFixture.subscriberToken(TestTokenClaims(publish: ["*"]))
            try await TestGateway.run(configuration: AuthFixture.configuration()) { _, port in
                let publisher = try await TestPublisher.connect(port: port)
                func publish(_ topics: [String], token: String) async throws -> HTTPTestResponse {
                    try await publisher.publish(
                        topics.map { ("topic", $0) } + [("data", "x")], headers: ["Authorization: Bearer \(token)"])
                }
                let book1 = "https://example.com/books/1"
                let user1 = "https://example.com/users/1"
                #expect(try await publish([book1, "https://example.com/books/2"], token: books).status == 200)
                let outside = try await publish([user1], token: books)
                #expect(outside.status == 403)
                #expect(outside.header("WWW-Authenticate") == #"Bearer error="insufficient_scope""#)
                #expect(outside.body == "the token's mercure.publish does not cover the topic \"\(user1)\"\n")
                let alternate = try await publish([book1, user1], token: books)
                #expect(alternate.status == 403)
                #expect(try await publish([user1, book1], token: everything).status == 200)
                #expect(try await publish([book1], token: nothing).status == 403)
                let missing = try await publish([book1], token: noClaim)
                #expect(missing.status == 403)
                #expect(missing.body == "the token has no mercure.publish claim\n")
                // Publisher and subscriber keys are separate.
                #expect(try await publish([book1], token: subscriberKey).status == 401)
            }
        }

        @Test func aPublishedUpdateReachesSubscribers() async throws {
            let publisherToken = try await AuthFixture.publisherToken()
            let subscriberToken = try await AuthFixture.subscriberToken()
            try await TestGateway.run(configuration: AuthFixture.configuration()) { _, port in
                let subscriber = try await TestSubscriber.open(
                    port: port, query: "topic=t", headers: ["Authorization: Bearer \(subscriberToken)"])
                let publisher = try await TestPublisher.connect(port: port)
                let response = try await publisher.publish(
                    [("topic", "t"), ("id", "e1"), ("data", "hello")],
                    headers: ["Authorization: Bearer \(publisherToken)"])
                #expect(response.status == 200)
                #expect(response.body == "e1")
                try await subscriber.waitForEvents(1)
                #expect(try await subscriber.body().contains("id: e1\ndata: hello\n\n"))
            }
        }

        @Test func queryParameterTokensAuthorisePublishesToo() async throws {
            let token = try await AuthFixture.publisherToken()
            try await TestGateway.run(configuration: AuthFixture.configuration()) { _, port in
                let client = try await RawClient.connect(port: port)
                try await client.sendRequest(
                    "POST", "/.well-known/mercure?authorization=\(token)",
                    headers: ["Content-Type: application/x-www-form-urlencoded"], body: "topic=t")
                #expect(try await client.readResponse().status == 200)
            }
        }

        @Test func cookiePublishesNeedAnAllowedOrigin() async throws {
            let token = try await AuthFixture.publisherToken()
            let cookie = "Cookie: mercureAuthorization=\(token)"
            try await TestGateway.run(
                configuration: AuthFixture.configuration([
                    "publishOrigins": .array([.string("https://app.example.com"), .string("http://localhost:3000")])
                ])
            ) { _, port in
                let publisher = try await TestPublisher.connect(port: port)
                let noOrigin = try await publisher.publish([("topic", "t")], headers: [cookie])
                #expect(noOrigin.status == 401)
                #expect(noOrigin.body == "a publish authenticated by cookie needs an Origin or Referer header\n")
                let foreign = try await publisher.publish(
                    [("topic", "t")], headers: [cookie, "Origin: https://evil.example"])
                #expect(foreign.status == 401)
                #expect(foreign.header("WWW-Authenticate") == "Bearer")
                #expect(
                    foreign.body
                        == "a publish authenticated by cookie must come from an origin in publishOrigins; "
                        + "\"https://evil.example\" is not one\n")
                let allowed = try await publisher.publish(
                    [("topic", "t")], headers: [cookie, "Origin: https://APP.example.com"])
                #expect(allowed.status == 200)
                let referer = try await publisher.publish(
                    [("topic", "t")], headers: [cookie, "Referer: http://localhost:3000/admin/page?x=1"])
                #expect(referer.status == 200)
                let foreignReferer = try await publisher.publish(
                    [("topic", "t")], headers: [cookie, "Referer: http://localhost:3001/admin"])
                #expect(foreignReferer.status == 401)
                // The header is not subject to the origin check: browsers do not attach it on their own.
                let header = try await publisher.publish(
                    [("topic", "t")], headers: ["Authorization: Bearer \(token)", "Origin: https://evil.example"])
                #expect(header.status == 200)
            }
        }

        @Test func listedAddressesMayPublishWithoutAToken() async throws {
            try await TestGateway.run(
                configuration: AuthFixture.configuration(["publishWithoutTokenFrom": .array([.string("127.0.0.0/8")])])
            ) { _, port in
                let publisher = try await TestPublisher.connect(port: port)
                #expect(try await publisher.publish([("topic", "t")]).status == 200)
            }
            try await TestGateway.run(
                configuration: AuthFixture.configuration(["publishWithoutTokenFrom": .array([.string("10.0.0.0/8")])])
            ) { _, port in
                let publisher = try await TestPublisher.connect(port: port)
                #expect(try await publisher.publish([("topic", "t")]).status == 401)
            }
        }
    }
}
