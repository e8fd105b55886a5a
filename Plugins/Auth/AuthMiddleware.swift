import Foundation
import NIOCore
public import SSEGateway

/// Mercure authorisation: verifies subscribers' and publishers' JWTs, gives subscribers their claims so private
/// updates follow the hub's rule, scopes publishes to `mercure.publish`, and closes each stream no later than its
/// token's `exp`.
///
/// ```json
/// {"use": "auth",
///  "publisher": {"algorithm": "HS256", "key": "…"},
///  "subscriber": {"algorithm": "RS256", "keyFile": "/etc/mercure/subscriber.pem"},
///  "anonymous": false, "cookieName": "mercureAuthorization",
///  "publishOrigins": ["https://example.com"], "publishWithoutTokenFrom": []}
/// ```
///
/// The token is read from the `Authorization: Bearer` header, else the `authorization` query parameter, else the
/// cookie. Refusals follow RFC 6750: 401 with `WWW-Authenticate: Bearer` (`error="invalid_token"` when a token was
/// given), 403 for a genuine token without the needed scope, 400 for credentials sent in an unreadable way.
public struct AuthMiddleware: MiddlewarePlugin {
    public static let name = "auth"

    public let configuration: Configuration
    private let dependencies: Dependencies
    private let origins: OriginPolicy
    private let expiryTimers: LiveResourceCount
    private let publisherTokens: VerifiedTokenCache
    private let subscriberTokens: VerifiedTokenCache

    /// Expiry timers this middleware has armed and not yet ended: sessions whose token will close them. Zero once
    /// every such session has ended, however it ended. A middleware built from configuration also reports it on
    /// `/metrics` as `sse_auth_expiry_timers_active`.
    public var liveExpiryTimers: Int { self.expiryTimers.value }

    public init(settings: ConfigObject, context: MiddlewareContext) throws(ConfigError) {
        self.init(
            configuration: try Configuration(settings: settings, context: context),
            dependencies: .system,
            expiryTimers: LiveResourceCount(gaugeLabel: "sse_auth_expiry_timers_active", metrics: context.metrics)
        )
    }

    /// Creates the middleware from settings made in code; `dependencies` replaces the clock and random source.
    public init(configuration: Configuration, dependencies: Dependencies = .system) {
        self.init(configuration: configuration, dependencies: dependencies, expiryTimers: LiveResourceCount())
    }

    private init(configuration: Configuration, dependencies: Dependencies, expiryTimers: LiveResourceCount) {
        self.configuration = configuration
        self.dependencies = dependencies
        self.origins = OriginPolicy(origins: configuration.publishOrigins)
        self.expiryTimers = expiryTimers
        self.publisherTokens = VerifiedTokenCache(capacity: configuration.tokenCacheSize)
        self.subscriberTokens = VerifiedTokenCache(capacity: configuration.tokenCacheSize)
    }

    public func connect(_ session: Session) async throws {
        let token: String
        switch TokenPresentation.find(in: session.request, cookieName: self.configuration.cookieName) {
        case .failed(let failure):
            throw failure.rejection
        case .absent:
            guard self.configuration.anonymous else {
                throw AuthFailure.unauthorized(
                    "subscribing requires a token (Authorization: Bearer header, authorization query parameter or "
                        + "\(self.configuration.cookieName) cookie)"
                ).rejection
            }
            return
        case .token(let value, _):
            token = value
        }
        guard let verifier = self.configuration.subscriber else {
            throw AuthFailure.invalidToken("this hub has no subscriber key, so it cannot accept tokens").rejection
        }
        let (claims, now) = try await self.verified(token, by: verifier, cache: self.subscriberTokens)
        session.claims = SubscriberClaims(
            subscribe: (claims.subscribe ?? []).map(TopicSelector.init),
            payload: claims.payload
        )
        if let expiry = claims.expiresAt {
            self.closeOnExpiry(session, expiry: expiry, now: now)
        }
    }

    /// Refuses a publisher without a valid token before its body is sent (for clients that wait for `100 Continue`);
    /// the topics, which only the body names, are checked in ``publish(_:)``.
    public func admitPublish(_ request: RequestFacts) async throws {
        if case .token(let token, let verifier) = try self.publisherToken(of: request) {
            _ = try await self.verified(token, by: verifier, cache: self.publisherTokens)
        }
    }

    public func publish(_ publish: PublishContext) async throws {
        switch try self.publisherToken(of: publish.request) {
        case .exempt:
            publish.isAuthorized = true
        case .token(let token, let verifier):
            let claims = try await self.verified(token, by: verifier, cache: self.publisherTokens).0
            try self.authorize(publish, claims: claims)
        }
    }

    /// A publisher's token seen before is checked from the cache, without suspending; a new one waits for
    /// ``publish(_:)``, which verifies its signature.
    public func publishWithoutSuspending(_ publish: PublishContext) throws -> PhaseProgress {
        switch try self.publisherToken(of: publish.request) {
        case .exempt:
            publish.isAuthorized = true
        case .token(let token, _):
            guard let claims = self.publisherTokens.cachedClaims(of: token) else { return .suspend }
            try self.authorize(publish, claims: try self.valid(claims).0)
        }
        return .finished
    }

    /// What a publisher presents, worked out from the request alone.
    private enum PublisherToken {
        /// A peer in `publishWithoutTokenFrom`.
        case exempt
        case token(String, verifier: any TokenVerifier)
    }

    /// The publisher's token and the key it is checked with; a missing token, a cookie from a foreign origin, or a
    /// hub without a publisher key is refused.
    private func publisherToken(of request: RequestFacts) throws(HTTPRejection) -> PublisherToken {
        if let remote = request.remoteAddress,
            self.configuration.publishWithoutTokenFrom.contains(where: { $0.contains(remote) })
        {
            return .exempt
        }
        let token: String
        switch TokenPresentation.find(in: request, cookieName: self.configuration.cookieName) {
        case .failed(let failure):
            throw failure.rejection
        case .absent:
            throw AuthFailure.unauthorized(
                "publishing requires a token with a mercure.publish claim (Authorization: Bearer header)"
            ).rejection
        case .token(let value, let source):
            if source == .cookie, let failure = self.origins.check(request) {
                throw failure.rejection
            }
            token = value
        }
        guard let verifier = self.configuration.publisher else {
            throw AuthFailure.invalidToken("this hub has no publisher key, so it cannot accept tokens").rejection
        }
        return .token(token, verifier: verifier)
    }

    /// Lets the publish through when the token's `mercure.publish` covers every topic of the update.
    private func authorize(_ publish: PublishContext, claims: MercureClaims) throws(HTTPRejection) {
        if let failure = ClaimsPolicy.publishScope(of: claims, topics: publish.update.topics) {
            throw failure.rejection
        }
        publish.isAuthorized = true
    }

    /// The claims of a genuine token that is valid now, and that now; any problem becomes a 401.
    private func verified(
        _ token: String,
        by verifier: any TokenVerifier,
        cache: VerifiedTokenCache
    ) async throws(HTTPRejection) -> (MercureClaims, Date) {
        let claims: MercureClaims
        do {
            claims = try await cache.claims(of: token, by: verifier)
        } catch let error as InvalidTokenError {
            throw AuthFailure.invalidToken(error.reason).rejection
        } catch {
            throw AuthFailure.invalidToken("the token could not be verified").rejection
        }
        return try self.valid(claims)
    }

    /// The claims when the token is valid now (`exp`, `nbf`), and that now; a 401 otherwise.
    private func valid(_ claims: MercureClaims) throws(HTTPRejection) -> (MercureClaims, Date) {
        let now = self.dependencies.now()
        if let failure = ClaimsPolicy.validity(of: claims, at: now) {
            throw failure.rejection
        }
        return (claims, now)
    }

    /// Arms the session's expiry timer; its will-close listener, registered first, disarms it however the session
    /// ends, even if that happened while this was running.
    private func closeOnExpiry(_ session: Session, expiry: Date, now: Date) {
        let fraction = self.dependencies.random(ExpirySchedule.spread)
        guard let delay = ExpirySchedule.delay(until: expiry, now: now, fraction: fraction) else { return }
        let timer = ExpiryTimer(counter: self.expiryTimers)
        session.addWillCloseListener { _, _ in timer.cancel() }
        let scheduled = session.eventLoop.scheduleTask(in: delay) {
            if timer.fire() {
                session.close(reason: .authExpired)
            }
        }
        timer.arm(scheduled)
    }
}
