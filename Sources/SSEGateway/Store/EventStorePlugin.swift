public import NIOCore

/// A kind of ``EventStore`` that `hub.store` can name by its `type`, as middleware plugins are named by `use`.
///
/// Reading the settings and opening the store are separate steps: `check-config` reads and validates every setting
/// without touching a file or a server, and `serve` opens the store when it starts, before it listens.
public protocol EventStorePlugin: Sendable {
    /// The `type` that selects this kind.
    static var type: String { get }

    /// Reads and validates the kind's settings (the members of `hub.store` besides `type`); throws a ``ConfigError``
    /// naming the JSON path of a bad value. Must not open anything.
    init(settings: ConfigObject, context: EventStoreContext) throws

    /// Opens the store (creating what it needs), on the gateway's loops; throws a ``ConfigError`` naming the setting
    /// at fault (a path that cannot be created, a server that cannot be reached) with the system's reason.
    func open(on eventLoopGroup: any EventLoopGroup) async throws -> any EventStore
}
