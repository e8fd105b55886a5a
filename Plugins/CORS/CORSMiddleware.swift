public import NIOHTTP1
public import SSEGateway

/// Lets pages on listed origins subscribe and publish from the browser: answers preflights and adds the
/// `Access-Control-*` headers to every answer of the hub, including rejections, so a page can read why it was refused.
///
/// ```json
/// {"use": "cors", "origins": ["https://app.example.com"], "credentials": true}
/// ```
public struct CORSMiddleware: MiddlewarePlugin {
    public static let name = "cors"

    public let policy: CORSPolicy

    public init(policy: CORSPolicy) {
        self.policy = policy
    }

    public init(settings: ConfigObject, context: MiddlewareContext) throws(ConfigError) {
        var policy = CORSPolicy()
        let defaults = policy
        let originsNode = settings.node("origins")
        policy.origins = try settings.decode("origins", default: defaults.origins) { node throws(ConfigError) in
            try node.array { element throws(ConfigError) in
                let origin = try element.string()
                guard origin == "*" || Self.isOrigin(origin) else {
                    throw element.error(
                        "must be an origin like \"https://example.com\" (scheme, host, optional port, no path) or \"*\""
                    )
                }
                return origin
            }
        }
        policy.allowsCredentials = try settings.decode("credentials", default: defaults.allowsCredentials) {
            node throws(ConfigError) in try node.bool()
        }
        policy.allowedHeaders = try settings.decode("allowedHeaders", default: defaults.allowedHeaders) {
            node throws(ConfigError) in try node.stringArray()
        }
        policy.maxAgeSeconds = try settings.decode("maxAge", default: defaults.maxAgeSeconds) {
            node throws(ConfigError) in
            let duration = try node.duration()
            return Int(duration.components.seconds)
        }
        if policy.origins.contains("*"), policy.allowsCredentials, let originsNode {
            throw originsNode.error(
                "\"*\" cannot be used with \"credentials\": true; browsers refuse it, list the origins")
        }
        if policy.origins.isEmpty {
            context.warn("\(context.name): no origins listed, so every cross-origin request is refused")
        }
        self.init(policy: policy)
    }

    /// No publish phase: a publish passes without a task.
    public func publishWithoutSuspending(_ publish: PublishContext) throws -> PhaseProgress { .finished }

    public func intercept(_ request: RequestFacts, responseHeaders: inout HTTPHeaders) -> MiddlewareResponse? {
        let requestedHeaders =
            request.headers[canonicalForm: "access-control-request-headers"].map(String.init).filter { !$0.isEmpty }
        let decision = self.policy.decide(
            method: request.method.rawValue,
            origin: request.headers.first(name: "origin"),
            requestedMethod: request.headers.first(name: "access-control-request-method"),
            requestedHeaders: requestedHeaders
        )
        switch decision {
        case .passThrough(let headers), .allow(let headers):
            for (name, value) in headers { responseHeaders.add(name: name, value: value) }
            return nil
        case .preflight(let headers):
            for (name, value) in headers { responseHeaders.add(name: name, value: value) }
            return MiddlewareResponse(.noContent)
        case .refusePreflight(let reason):
            return MiddlewareResponse(.forbidden, body: "CORS preflight refused: \(reason)\n")
        }
    }

    /// `scheme://host[:port]` with nothing after it, which is what browsers put in `Origin`.
    static func isOrigin(_ text: String) -> Bool {
        guard let schemeEnd = text.range(of: "://") else { return false }
        let scheme = text[..<schemeEnd.lowerBound]
        let rest = text[schemeEnd.upperBound...]
        return !scheme.isEmpty && scheme.allSatisfy { $0.isLetter || $0.isNumber || "+-.".contains($0) }
            && !rest.isEmpty && !rest.contains("/") && !rest.contains("?") && !rest.contains("#")
    }
}
