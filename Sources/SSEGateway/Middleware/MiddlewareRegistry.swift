/// The middleware that configuration files may name, by their `use` names.
///
/// The `sse-gateway` command registers the built-in plugins; an application embedding the gateway registers its own
/// the same way before creating the ``GatewayServer``.
public struct MiddlewareRegistry: Sendable {
    /// Makes a middleware from its settings; throws a ``ConfigError`` naming the JSON path of a bad setting (any
    /// other error is reported at the entry's path).
    public typealias Factory = @Sendable (ConfigObject, MiddlewareContext) throws -> any Middleware

    private var factories: [String: Factory] = [:]

    public init() {}

    /// Makes `Plugin` available as `{"use": Plugin.name}`; a later registration under the same name replaces it.
    public mutating func register<Plugin: MiddlewarePlugin>(_ plugin: Plugin.Type) {
        self.factories[Plugin.name] = { settings, context in
            try Plugin(settings: settings, context: context)
        }
    }

    /// Makes a middleware available under `name`, built by `factory`.
    public mutating func register(_ name: String, factory: @escaping Factory) {
        self.factories[name] = factory
    }

    /// The registered names, sorted.
    public var names: [String] { self.factories.keys.sorted() }

    /// Builds one configured entry, rejecting an unknown name and any setting the plugin did not read.
    func make(_ entry: MiddlewareEntry, context: MiddlewareContext) throws(ConfigError) -> any Middleware {
        guard let factory = self.factories[entry.use] else {
            let known = self.names.isEmpty ? "none" : self.names.joined(separator: ", ")
            throw ConfigError(
                path: ConfigNode.childPath(entry.path, key: "use"),
                message: "unknown middleware \"\(entry.use)\"; known middleware: \(known)"
            )
        }
        let settings = ConfigObject(path: entry.path, members: entry.settings)
        settings.declare("use", "name")
        let middleware: any Middleware
        do {
            middleware = try factory(settings, context)
        } catch let error as ConfigError {
            throw error
        } catch {
            throw ConfigError(path: entry.path, message: "\(entry.use): \(error)")
        }
        try settings.finish()
        return middleware
    }
}
