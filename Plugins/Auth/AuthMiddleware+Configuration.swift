public import SSEGateway

extension AuthMiddleware {
    /// How the middleware authorises, as `config.json` sets it (keys named after the properties).
    public struct Configuration: Sendable {
        /// Verifies publishers' tokens (`publisher`: `{"algorithm", "key" | "keyFile"}`). Required unless
        /// ``publishWithoutTokenFrom`` lists the publishers' addresses: otherwise nobody could publish.
        public var publisher: (any TokenVerifier)?
        /// Verifies subscribers' tokens (`subscriber`, same shape). Required unless ``anonymous``: otherwise
        /// nobody could subscribe.
        public var subscriber: (any TokenVerifier)?
        /// Whether subscribers without a token are served, with public updates only. Default false, as in the
        /// Mercure hub: turning auth on should not silently leave the stream open to anyone.
        public var anonymous = false
        /// The cookie read when neither the header nor the query carries a token. Default `mercureAuthorization`,
        /// the name Mercure clients set.
        public var cookieName = "mercureAuthorization"
        /// Origins (`https://example.com`, or `*`) from which a publish authenticated by cookie is accepted.
        /// Default none: browsers attach cookies to cross-site posts, so any listed origin can publish as a visitor.
        public var publishOrigins: [String] = []
        /// Peers that may publish without a token. Default none: behind a reverse proxy every request comes from
        /// loopback, so trusting an address there would trust everyone the proxy serves.
        public var publishWithoutTokenFrom: [IPAddressRange] = []
        /// Genuine tokens remembered per key (`tokenCacheSize`), so a token presented again is not verified again;
        /// its expiry is still checked every time. Default 1000; 0 verifies every time. A publisher that signs one
        /// token and reuses it then pays for its signature once, not on every publish.
        public var tokenCacheSize = 1000

        public init() {}
    }
}

extension AuthMiddleware.Configuration {
    init(settings: ConfigObject, context: MiddlewareContext) throws(ConfigError) {
        self.init()
        let defaults = self
        self.anonymous = try settings.decode("anonymous", default: defaults.anonymous) { node throws(ConfigError) in
            try node.bool()
        }
        self.cookieName = try settings.decode("cookieName", default: defaults.cookieName) { node throws(ConfigError) in
            let name = try node.string()
            guard Self.isCookieName(name) else {
                throw node.error("not a cookie name: use letters, digits and !#$%&'*+-.^_`|~")
            }
            return name
        }
        self.publishOrigins = try settings.decode("publishOrigins", default: defaults.publishOrigins) {
            node throws(ConfigError) in
            try node.array { element throws(ConfigError) in
                let origin = try element.string()
                guard origin == "*" || OriginPolicy.normalize(origin) != nil else {
                    throw element.error(
                        #"expected an origin like "https://example.com" (scheme, host and port only) or "*", got "#
                            + element.value.shortDescription)
                }
                return origin
            }
        }
        self.publishWithoutTokenFrom = try settings.decode(
            "publishWithoutTokenFrom", default: defaults.publishWithoutTokenFrom
        ) { node throws(ConfigError) in
            try node.array { element throws(ConfigError) in try element.ipAddressRange() }
        }
        self.tokenCacheSize = try settings.decode("tokenCacheSize", default: defaults.tokenCacheSize) {
            node throws(ConfigError) in
            try node.int(in: 0...1_000_000)
        }
        self.publisher = try settings.decodeIfPresent("publisher") { node throws(ConfigError) in
            try KeySettings.verifier(from: node, context: context)
        }
        self.subscriber = try settings.decodeIfPresent("subscriber") { node throws(ConfigError) in
            try KeySettings.verifier(from: node, context: context)
        }
        if self.publisher == nil, self.publishWithoutTokenFrom.isEmpty {
            throw ConfigError(
                path: Self.path(settings, "publisher"),
                message: "required key is missing: publishers need a key unless publishWithoutTokenFrom lists them"
            )
        }
        if self.subscriber == nil, !self.anonymous {
            throw ConfigError(
                path: Self.path(settings, "subscriber"),
                message: "required key is missing: subscribers need a key unless anonymous is true"
            )
        }
        if self.publishOrigins.contains("*") {
            context.warn(
                "\(Self.path(settings, "publishOrigins")) contains \"*\": any web site can publish with its "
                    + "visitors' \(self.cookieName) cookie")
        }
        if let open = self.publishWithoutTokenFrom.first(where: { $0.prefixLength == 0 }) {
            context.warn(
                "\(Self.path(settings, "publishWithoutTokenFrom")) contains \(open): anyone can publish without a token"
            )
        }
    }

    /// The path of `key` in `object`.
    private static func path(_ object: ConfigObject, _ key: String) -> String {
        object.path.isEmpty ? key : "\(object.path).\(key)"
    }

    /// RFC 6265 §4.1.1: a cookie name is an RFC 9110 token.
    private static func isCookieName(_ name: String) -> Bool {
        !name.isEmpty
            && name.unicodeScalars.allSatisfy { scalar in
                scalar.isASCII
                    && (scalar.properties.isAlphabetic || scalar.properties.numericType != nil
                        || "!#$%&'*+-.^_`|~".unicodeScalars.contains(scalar))
            }
    }
}
