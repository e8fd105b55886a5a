import Testing

@testable import Auth
@testable import SSEGateway

extension AuthTests {
    @Suite("Token carriers and their precedence")
    struct TokenCarrierTests {
        @Test func eachCarrierAloneAuthenticatesASubscriber() async throws {
            let token = try await AuthFixture.subscriberToken()
            try await TestGateway.run(configuration: AuthFixture.configuration()) { _, port in
                let header = try await RawClient.subscribeResponse(
                    port: port, headers: ["Authorization: Bearer \(token)"])
                #expect(header.status == 200)
                let query = try await RawClient.subscribeResponse(port: port, query: "topic=t&authorization=\(token)")
                #expect(query.status == 200)
                let cookie = try await RawClient.subscribeResponse(
                    port: port, headers: ["Cookie: theme=dark; mercureAuthorization=\(token); lang=fr"])
                #expect(cookie.status == 200)
                let lowercaseScheme = try await RawClient.subscribeResponse(
                    port: port, headers: ["Authorization: bearer \(token)"])
                #expect(lowercaseScheme.status == 200)
            }
        }

        @Test func headerBeatsQueryBeatsCookie() async throws {
            let good = try await AuthFixture.subscriberToken()
            let bad = try await AuthFixture.hmac(
                TestTokenClaims(subscribe: ["*"]), secret: String(repeating: "x", count: 64))
            try await TestGateway.run(configuration: AuthFixture.configuration()) { _, port in
                // The carrier with precedence decides, whatever the others carry.
                let headerGood = try await RawClient.subscribeResponse(
                    port: port, query: "topic=t&authorization=\(bad)",
                    headers: ["Authorization: Bearer \(good)", "Cookie: mercureAuthorization=\(bad)"])
                #expect(headerGood.status == 200)
                let headerBad = try await RawClient.subscribeResponse(
                    port: port, query: "topic=t&authorization=\(good)",
                    headers: ["Authorization: Bearer \(bad)", "Cookie: mercureAuthorization=\(good)"])
                #expect(headerBad.status == 401)
                let queryGood = try await RawClient.subscribeResponse(
                    port: port, query: "topic=t&authorization=\(good)", headers: ["Cookie: mercureAuthorization=\(bad)"]
                )
                #expect(queryGood.status == 200)
                let queryBad = try await RawClient.subscribeResponse(
                    port: port, query: "topic=t&authorization=\(bad)", headers: ["Cookie: mercureAuthorization=\(good)"]
                )
                #expect(queryBad.status == 401)
                let cookieBad = try await RawClient.subscribeResponse(
                    port: port, headers: ["Cookie: mercureAuthorization=\(bad)"])
                #expect(cookieBad.status == 401)
                #expect(cookieBad.header("WWW-Authenticate") == #"Bearer error="invalid_token""#)
            }
        }

        @Test func aMalformedAuthorizationHeaderDoesNotFallBack() async throws {
            let good = try await AuthFixture.subscriberToken()
            try await TestGateway.run(configuration: AuthFixture.configuration(["anonymous": .bool(true)])) { _, port in
                for header in ["Basic dXNlcjpwYXNz", "Bearer", "Bearer a b", good] {
                    let response = try await RawClient.subscribeResponse(
                        port: port, query: "topic=t&authorization=\(good)",
                        headers: ["Authorization: \(header)", "Cookie: mercureAuthorization=\(good)"])
                    #expect(response.status == 401, "Authorization: \(header)")
                    #expect(response.header("WWW-Authenticate") == #"Bearer error="invalid_token""#)
                    #expect(response.body == "invalid token: the Authorization header must be \"Bearer <token>\"\n")
                }
            }
        }

        @Test func repeatedCarriersAreAMalformedRequest() async throws {
            let good = try await AuthFixture.subscriberToken()
            try await TestGateway.run(configuration: AuthFixture.configuration()) { _, port in
                let twoHeaders = try await RawClient.subscribeResponse(
                    port: port, headers: ["Authorization: Bearer \(good)", "Authorization: Bearer \(good)"])
                #expect(twoHeaders.status == 400)
                #expect(twoHeaders.header("WWW-Authenticate") == #"Bearer error="invalid_request""#)
                #expect(twoHeaders.body == "send one Authorization header, not 2\n")
                let twoQueries = try await RawClient.subscribeResponse(
                    port: port, query: "topic=t&authorization=\(good)&authorization=\(good)")
                #expect(twoQueries.status == 400)
                #expect(twoQueries.body == "send one authorization query parameter, not 2\n")
            }
        }

        @Test func theCookieNameIsConfigurableAndAnEmptyCookieIsNoToken() async throws {
            let good = try await AuthFixture.subscriberToken()
            try await TestGateway.run(configuration: AuthFixture.configuration(["cookieName": .string("hubToken")])) {
                _, port in
                let renamed = try await RawClient.subscribeResponse(
                    port: port, headers: ["Cookie: hubToken=\"\(good)\""])
                #expect(renamed.status == 200)
                let oldName = try await RawClient.subscribeResponse(
                    port: port, headers: ["Cookie: mercureAuthorization=\(good)"])
                #expect(oldName.status == 401)
                #expect(oldName.header("WWW-Authenticate") == "Bearer")
                let empty = try await RawClient.subscribeResponse(port: port, headers: ["Cookie: hubToken="])
                #expect(empty.status == 401)
                #expect(empty.header("WWW-Authenticate") == "Bearer")
            }
        }
    }
}
