public import SSEGateway

/// Placeholder until the plugin lands.
public struct RequestLoggerMiddleware: MiddlewarePlugin {
    public static let name = "request-logger"

    public init(settings: ConfigObject, context: MiddlewareContext) throws(ConfigError) {}
}
