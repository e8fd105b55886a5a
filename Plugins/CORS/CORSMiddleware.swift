public import SSEGateway

/// Placeholder until the plugin lands.
public struct CORSMiddleware: MiddlewarePlugin {
    public static let name = "cors"

    public init(settings: ConfigObject, context: MiddlewareContext) throws(ConfigError) {}
}
