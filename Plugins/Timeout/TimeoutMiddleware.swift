public import SSEGateway

/// Placeholder until the plugin lands.
public struct TimeoutMiddleware: MiddlewarePlugin {
    public static let name = "timeout"

    public init(settings: ConfigObject, context: MiddlewareContext) throws(ConfigError) {}
}
