/// Which cross-origin requests the hub answers, and the headers that tell a browser so.
///
/// A pure value: ``CORSMiddleware`` asks it for a ``Decision`` per request, which keeps the rules testable without a
/// server.
public struct CORSPolicy: Sendable, Equatable {
    /// Origins allowed to read the hub's answers, compared exactly (scheme, host and port, as browsers send
    /// `Origin`). `["*"]` allows any origin, which browsers refuse with credentials, so it cannot be combined with
    /// ``allowsCredentials``. Default: none, so cross-origin pages are refused until an operator lists them.
    public var origins: [String] = []
    /// Whether browsers may send cookies (`mercureAuthorization`) and `Authorization` with cross-origin requests, as
    /// `EventSource(url, {withCredentials: true})` does. Default false.
    public var allowsCredentials = false
    /// Request headers a preflight may ask for. Default: the ones Mercure clients send: `Authorization` (bearer
    /// token), `Cache-Control` (some EventSource polyfills) and `Last-Event-ID` (reconnection).
    public var allowedHeaders = ["authorization", "cache-control", "last-event-id"]
    /// How long, in seconds, a browser may cache a preflight answer. Default 600.
    public var maxAgeSeconds = 600

    public init() {}

    /// What to do with one request.
    public enum Decision: Equatable, Sendable {
        /// Not a cross-origin request, or not from an allowed origin: add these headers (only `Vary`) and go on.
        case passThrough(headers: [(String, String)])
        /// An allowed cross-origin request: add these headers to whatever answer it gets.
        case allow(headers: [(String, String)])
        /// A preflight to answer here with `204` and these headers.
        case preflight(headers: [(String, String)])
        /// A preflight that is refused, with the reason.
        case refusePreflight(reason: String)

        public static func == (lhs: Decision, rhs: Decision) -> Bool {
            func flat(_ headers: [(String, String)]) -> [String] { headers.map { "\($0.0): \($0.1)" } }
            switch (lhs, rhs) {
            case (.passThrough(let a), .passThrough(let b)), (.allow(let a), .allow(let b)),
                (.preflight(let a), .preflight(let b)):
                return flat(a) == flat(b)
            case (.refusePreflight(let a), .refusePreflight(let b)):
                return a == b
            default:
                return false
            }
        }
    }

    private var allowsAnyOrigin: Bool { self.origins.contains("*") }

    /// Decides for a request with these facts; `requestedHeaders` is the preflight's
    /// `Access-Control-Request-Headers`, split on commas.
    public func decide(
        method: String,
        origin: String?,
        requestedMethod: String?,
        requestedHeaders: [String]
    ) -> Decision {
        // Answers differ by Origin unless every origin gets the same `*`: caches must key on it.
        let vary: [(String, String)] = self.allowsAnyOrigin ? [] : [("Vary", "Origin")]
        guard let origin else { return .passThrough(headers: vary) }
        let isPreflight = method == "OPTIONS" && requestedMethod != nil
        guard self.allowsAnyOrigin || self.origins.contains(origin) else {
            if isPreflight { return .refusePreflight(reason: "origin \(origin) is not allowed") }
            return .passThrough(headers: vary)
        }
        var headers: [(String, String)] = [("Access-Control-Allow-Origin", self.allowsAnyOrigin ? "*" : origin)]
        if self.allowsCredentials { headers.append(("Access-Control-Allow-Credentials", "true")) }
        headers += vary
        guard isPreflight, let requestedMethod else { return .allow(headers: headers) }
        guard ["GET", "HEAD", "POST"].contains(requestedMethod.uppercased()) else {
            return .refusePreflight(reason: "method \(requestedMethod) is not allowed")
        }
        let allowed = Set(self.allowedHeaders.map { $0.lowercased() })
        if let refused = requestedHeaders.first(where: { !allowed.contains($0.lowercased()) }) {
            return .refusePreflight(reason: "request header \(refused) is not allowed")
        }
        headers.append(("Access-Control-Allow-Methods", "GET, HEAD, POST"))
        headers.append(("Access-Control-Allow-Headers", self.allowedHeaders.joined(separator: ", ")))
        headers.append(("Access-Control-Max-Age", String(self.maxAgeSeconds)))
        return .preflight(headers: headers)
    }
}
