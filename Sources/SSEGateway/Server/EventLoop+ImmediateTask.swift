import NIOCore

extension EventLoop {
    /// Runs `body` at once on the calling thread (the loop's) up to its first suspension, and completes the future
    /// with its result.
    ///
    /// The middleware phases use it rather than `makeFutureWithTask`: a phase that never suspends (a JWT check, a
    /// header, a timer to arm) then costs no hop to the global executor and back, and phases read in order finish in
    /// order. A phase that does suspend resumes on the global executor as before. The future completes on this loop.
    func makeFutureWithImmediateTask<Value: Sendable>(
        _ body: sending @escaping () async throws -> Value
    ) -> EventLoopFuture<Value> {
        let promise = self.makePromise(of: Value.self)
        Task.immediate {
            do {
                promise.succeed(try await body())
            } catch {
                promise.fail(error)
            }
        }
        return promise.futureResult
    }
}
