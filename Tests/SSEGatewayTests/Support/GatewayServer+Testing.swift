@testable import SSEGateway

extension GatewayServer {
    /// The value of the sample `name` (with its labels, as `/metrics` writes them), or nil when there is none.
    func metric(_ name: String) -> Double? {
        self.context.metrics.samples()[name].flatMap { Double($0) }
    }

    /// What every session of this server shares, including its count of sessions alive in memory.
    var sessionEnvironment: SessionEnvironment { self.context.sessionEnvironment }
}
