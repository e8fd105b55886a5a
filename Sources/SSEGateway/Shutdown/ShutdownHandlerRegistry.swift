import NIOConcurrencyHelpers

/// The named handlers that run when the gateway stops, in reverse registration order.
public final class ShutdownHandlerRegistry: Sendable {
    public typealias Handler = @Sendable () async throws -> Void

    /// A second handler tried to take a name already registered.
    public struct DuplicateName: Error, CustomStringConvertible {
        public var name: String
        public var description: String { "a shutdown handler named \"\(self.name)\" is already registered" }
    }

    private let handlers: NIOLockedValueBox<[(name: String, handler: Handler)]>

    /// - Parameter core: the core's own handlers, which run after every other.
    init(core: [(name: String, handler: Handler)] = []) {
        self.handlers = NIOLockedValueBox(core)
    }

    func register(name: String, _ handler: @escaping Handler) throws {
        try self.handlers.withLockedValue { handlers in
            guard !handlers.contains(where: { $0.name == name }) else { throw DuplicateName(name: name) }
            handlers.append((name, handler))
        }
    }

    /// Handlers in the order they run: the last registered first.
    var runOrder: [(name: String, handler: Handler)] {
        self.handlers.withLockedValue { $0.reversed() }
    }

    /// Registered names, in registration order.
    public var names: [String] {
        self.handlers.withLockedValue { $0.map(\.name) }
    }
}
