/// How the `sse-gateway serve` process exits after a shutdown sequence.
///
/// Code 1 stays reserved for an invalid configuration at startup.
public enum ShutdownExitCode: Int32, Sendable, CaseIterable {
    /// Every step and every shutdown handler finished in time.
    case clean = 0
    /// At least one shutdown handler threw or overran its timeout; the others still ran.
    case handlerFailed = 3
    /// `shutdown.hardDeadline` was reached before the sequence ended.
    case deadlineExceeded = 4
    /// A second shutdown signal arrived during the sequence, which was cut short.
    case fastExit = 5
}
