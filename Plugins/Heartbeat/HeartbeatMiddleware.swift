public import SSEGateway

/// Placeholder until the plugin lands.
public struct HeartbeatMiddleware: MiddlewarePlugin {
    public static let name = "heartbeat"

    public init(settings: ConfigObject, context: MiddlewareContext) throws(ConfigError) {}
}
