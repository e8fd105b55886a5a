public import SSEGateway

/// Placeholder until the plugin lands.
public struct AuthMiddleware: MiddlewarePlugin {
    public static let name = "auth"

    public init(settings: ConfigObject, context: MiddlewareContext) throws(ConfigError) {}
}
