import NIOCore

@testable import SSEGateway

extension Hub {
    /// A hub on `loops` whose store is memory with the default history bounds.
    static func testing(
        eventLoops loops: [any EventLoop], metrics: GatewayMetrics, writeDelay: Duration = .zero
    ) -> Hub {
        Hub(
            eventLoops: loops,
            configuration: .init(),
            metrics: metrics,
            committer: EventCommitter(store: MemoryEventStore(capacity: 1000)),
            writeDelay: writeDelay
        )
    }

    /// Delivers `request` as if the store had just committed it, on the caller's thread: for embedded event loops,
    /// which must not be touched from the committer's task.
    func publishCommitted(_ request: PublishRequest) {
        self.publishCommitted([request])
    }

    /// Delivers `requests` as one committed batch, as the committer hands the hub what one store write took.
    func publishCommitted(_ requests: [PublishRequest]) {
        let first = self.lastSequence + 1
        self.deliver(
            requests.enumerated().map { offset, request in
                let record = EventRecord(request, id: request.id ?? EventID.generate())
                return StoredEvent(position: first + UInt64(offset), record: record)
            })
    }
}
