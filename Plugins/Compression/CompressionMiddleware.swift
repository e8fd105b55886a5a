public import SSEGateway

/// Placeholder until the plugin lands.
public struct CompressionMiddleware: MiddlewarePlugin {
    public static let name = "compression"

    public init(settings: ConfigObject, context: MiddlewareContext) throws(ConfigError) {}
}
