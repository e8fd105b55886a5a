/// The kinds of event store that `hub.store` may name, by their `type`.
///
/// `memory` is always there; the `sse-gateway` command registers `sqlite` and the other kinds it ships, and an
/// application embedding the gateway registers its own the same way, so that the core links no database driver.
public struct EventStoreRegistry: Sendable {
    private var kinds: [String: any EventStorePlugin.Type] = [:]

    /// A registry that knows `memory`.
    public init() {
        self.register(MemoryEventStore.Plugin.self)
    }

    /// Makes `Kind` available as `{"type": Kind.type}`; a later registration under the same type replaces it.
    public mutating func register<Kind: EventStorePlugin>(_ kind: Kind.Type) {
        self.kinds[Kind.type] = kind
    }

    /// The registered types, sorted.
    public var types: [String] { self.kinds.keys.sorted() }

    /// Reads `hub.store` with its kind, rejecting an unknown type and any setting the kind did not read.
    func make(
        _ entry: GatewayConfiguration.Hub.Store,
        context: EventStoreContext
    ) throws(ConfigError) -> any EventStorePlugin {
        guard let kind = self.kinds[entry.type] else {
            throw ConfigError(
                path: ConfigNode.childPath(entry.path, key: "type"),
                message: "unknown store type \"\(entry.type)\"; known types: \(self.types.joined(separator: ", "))"
            )
        }
        let settings = ConfigObject(path: entry.path, members: entry.settings)
        settings.declare("type")
        let plugin: any EventStorePlugin
        do {
            plugin = try kind.init(settings: settings, context: context)
        } catch let error as ConfigError {
            throw error
        } catch {
            throw ConfigError(path: entry.path, message: "\(entry.type): \(error)")
        }
        try settings.finish()
        return plugin
    }
}
