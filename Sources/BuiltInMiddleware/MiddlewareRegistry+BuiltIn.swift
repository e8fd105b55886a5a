import Auth
import CORS
import Compression
import Heartbeat
import RequestLogger
public import SSEGateway
import Timeout

extension MiddlewareRegistry {
    /// The middleware shipped in `Plugins/`, under their `use` names: what the `sse-gateway` command offers, and a
    /// starting point for an application that adds its own with ``MiddlewareRegistry/register(_:)``.
    public static var builtIn: MiddlewareRegistry {
        var registry = MiddlewareRegistry()
        registry.register(AuthMiddleware.self)
        registry.register(CompressionMiddleware.self)
        registry.register(CORSMiddleware.self)
        registry.register(HeartbeatMiddleware.self)
        registry.register(RequestLoggerMiddleware.self)
        registry.register(TimeoutMiddleware.self)
        return registry
    }
}
