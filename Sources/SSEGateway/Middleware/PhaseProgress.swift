/// How far a middleware phase got without suspending, from ``Middleware/publishWithoutSuspending(_:)``.
public enum PhaseProgress: Sendable, Hashable {
    /// The phase is done: the request passed this middleware.
    case finished
    /// The phase must wait for something: its `async` hook runs instead.
    case suspend
}
