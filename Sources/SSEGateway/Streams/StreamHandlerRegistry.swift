/// The stream handlers that routes may name by `stream`. An application embedding the gateway registers its own
/// before creating the ``GatewayServer``.
public struct StreamHandlerRegistry: Sendable {
    /// Makes a handler from its route's settings; throws a ``ConfigError`` naming the JSON path of a bad setting.
    public typealias Factory = @Sendable (ConfigObject, MiddlewareContext) throws -> any StreamHandler

    private var factories: [String: Factory] = [:]

    public init() {}

    /// Makes `Handler` available as `{"stream": Handler.name}`; a later registration under the same name replaces it.
    public mutating func register<Handler: StreamHandlerPlugin>(_ handler: Handler.Type) {
        self.factories[Handler.name] = { settings, context in try Handler(settings: settings, context: context) }
    }

    /// Makes a handler available under `name`, built by `factory`.
    public mutating func register(_ name: String, factory: @escaping Factory) {
        self.factories[name] = factory
    }

    /// Makes the handler available under `name` as it is, for a route without settings of its own.
    public mutating func register(_ name: String, handler: any StreamHandler) {
        self.factories[name] = { _, _ in handler }
    }

    /// The registered names, sorted.
    public var names: [String] { self.factories.keys.sorted() }

    /// Builds the handler a route names, rejecting an unknown name and any setting the handler did not read.
    func make(_ route: HubRoute, context: MiddlewareContext) throws(ConfigError) -> (any StreamHandler)? {
        guard let name = route.stream else { return nil }
        guard let factory = self.factories[name] else {
            let known = self.names.isEmpty ? "none registered" : self.names.joined(separator: ", ")
            throw ConfigError(
                path: ConfigNode.childPath(route.configPath, key: "stream"),
                message: "unknown stream handler \"\(name)\"; known stream handlers: \(known)")
        }
        let settings = ConfigObject(path: route.configPath, members: route.settings)
        settings.declare("path", "stream", "skip", "middleware")
        let handler: any StreamHandler
        do {
            handler = try factory(settings, context)
        } catch let error as ConfigError {
            throw error
        } catch {
            throw ConfigError(path: route.configPath, message: "\(name): \(error)")
        }
        try settings.finish()
        return handler
    }
}
