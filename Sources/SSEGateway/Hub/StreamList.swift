/// An unordered set of streams kept in a contiguous array, so that fan-out iterates without hashing and removal is
/// a swap with the last element.
struct StreamList {
    private(set) var streams: [SSEStreamHandler] = []
    private var positions: [ObjectIdentifier: Int] = [:]

    var isEmpty: Bool { self.streams.isEmpty }
    var count: Int { self.streams.count }

    mutating func insert(_ stream: SSEStreamHandler) {
        let key = ObjectIdentifier(stream)
        guard self.positions[key] == nil else { return }
        self.positions[key] = self.streams.count
        self.streams.append(stream)
    }

    mutating func remove(_ stream: SSEStreamHandler) {
        guard let position = self.positions.removeValue(forKey: ObjectIdentifier(stream)) else { return }
        let last = self.streams.removeLast()
        if position < self.streams.count {
            self.streams[position] = last
            self.positions[ObjectIdentifier(last)] = position
        }
    }
}
