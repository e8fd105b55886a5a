import Foundation
import SSEGateway

/// What a genuine token must also satisfy: to be valid now, within Mercure's selector limit, and, for a publish, to
/// cover every topic of the update.
enum ClaimsPolicy {
    /// The most selectors one claim array may hold, as in the Mercure hub: a bound on the matching work one token
    /// can cause on every update.
    static let maxSelectors = 1000

    static func validity(of claims: MercureClaims, at now: Date) -> AuthFailure? {
        if let expiry = claims.expiresAt, expiry <= now {
            return .invalidToken("the token expired at \(expiry.formatted(.iso8601))")
        }
        if let notBefore = claims.notBefore, notBefore > now {
            return .invalidToken("the token is not valid before \(notBefore.formatted(.iso8601))")
        }
        for (name, selectors) in [("publish", claims.publish), ("subscribe", claims.subscribe)] {
            if let selectors, selectors.count > Self.maxSelectors {
                return .invalidToken(
                    "mercure.\(name) holds \(selectors.count) selectors; at most \(Self.maxSelectors) are allowed")
            }
        }
        return nil
    }

    /// Refuses an update with a topic (canonical or alternate) that no `mercure.publish` selector matches; `[]`
    /// matches nothing and `["*"]` everything.
    static func publishScope(of claims: MercureClaims, topics: [String]) -> AuthFailure? {
        guard let publish = claims.publish else {
            return .insufficientScope("the token has no mercure.publish claim")
        }
        let selectors = publish.map(TopicSelector.init)
        for topic in topics where !selectors.contains(where: { $0.matches(topic) }) {
            return .insufficientScope(
                "the token's mercure.publish does not cover the topic \(JSONValue.string(topic).shortDescription)")
        }
        return nil
    }
}
