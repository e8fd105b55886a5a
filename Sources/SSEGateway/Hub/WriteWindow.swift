import NIOCore

/// What a shard wrote in its current batch (or `streams.writeDelay` window): the streams to flush at its end, and
/// for each the run of events it took but has not written yet.
///
/// Streams of one topic mostly take the same events in a window, so a run is concatenated once and the same buffer
/// is written to every stream that took it: one pipeline write per stream per window instead of one per event. A run
/// is a range of the window's events, contiguous in the order they were added; a stream whose next event does not
/// continue its run writes the run as it stands and starts another, so order is kept.
struct WriteWindow {
    /// Events `start..<end` of the window; empty once written.
    private struct Run {
        var start: Int32
        var end: Int32

        static let none = Run(start: 0, end: 0)

        var isEmpty: Bool { self.start == self.end }
    }

    private struct RunKey: Hashable {
        var start: Int32
        var end: Int32
        var chunked: Bool
    }

    /// Events some stream took without writing, in delivery order; a run's positions index it.
    private var events: [HubEvent] = []
    /// The streams written in the window, each once; a stream's `windowSlot` indexes this and `runs`.
    private var streams: [SSEStreamHandler] = []
    private var runs: [Run] = []
    /// Concatenated runs, built once per window for every stream that took the same run with the same framing.
    private var buffers: [RunKey: ByteBuffer] = [:]
    private let allocator = ByteBufferAllocator()

    /// Streams written in the window, to be flushed at its end.
    var count: Int { self.streams.count }

    var isEmpty: Bool { self.streams.isEmpty }

    /// Adds `event` for deferred writes; returns its position.
    mutating func add(_ event: HubEvent) -> Int32 {
        self.events.append(event)
        return Int32(self.events.count - 1)
    }

    /// Lists `stream` for the flush at the end of the window, once; returns its slot.
    @discardableResult
    mutating func touch(_ stream: SSEStreamHandler) -> Int {
        if stream.windowSlot >= 0 { return Int(stream.windowSlot) }
        stream.windowSlot = Int32(self.streams.count)
        self.streams.append(stream)
        self.runs.append(.none)
        return self.streams.count - 1
    }

    /// Adds the event at `position` to `stream`'s run. Returns the run it ends, to be written now, when the event
    /// does not follow it.
    mutating func extendRun(of stream: SSEStreamHandler, to position: Int32) -> ByteBuffer? {
        let slot = self.touch(stream)
        let run = self.runs[slot]
        if !run.isEmpty, run.end == position {
            self.runs[slot].end = position + 1
            return nil
        }
        self.runs[slot] = Run(start: position, end: position + 1)
        return run.isEmpty ? nil : self.bytes(of: run, framing: stream.framing)
    }

    /// Removes `stream`'s unwritten run and returns its bytes, for a write that must come after it.
    mutating func takeRun(of stream: SSEStreamHandler) -> ByteBuffer? {
        guard stream.windowSlot >= 0 else { return nil }
        let slot = Int(stream.windowSlot)
        let run = self.runs[slot]
        guard !run.isEmpty else { return nil }
        self.runs[slot] = .none
        return self.bytes(of: run, framing: stream.framing)
    }

    /// Forgets `stream`'s unwritten run: the stream has gone.
    mutating func dropRun(of stream: SSEStreamHandler) {
        guard stream.windowSlot >= 0 else { return }
        self.runs[Int(stream.windowSlot)] = .none
    }

    /// The stream in `slot` and its unwritten run's bytes (which it no longer holds), for the flush at the end of
    /// the window. Each call is a short access, so the writes it leads to may come back for another stream's run.
    mutating func closeSlot(_ slot: Int) -> (stream: SSEStreamHandler, run: ByteBuffer?) {
        let run = self.runs[slot]
        self.runs[slot] = .none
        return (self.streams[slot], run.isEmpty ? nil : self.bytes(of: run, framing: self.streams[slot].framing))
    }

    /// Starts the next window, keeping the storage.
    mutating func reset() {
        self.events.removeAll(keepingCapacity: true)
        self.streams.removeAll(keepingCapacity: true)
        self.runs.removeAll(keepingCapacity: true)
        self.buffers.removeAll(keepingCapacity: true)
    }

    private mutating func bytes(of run: Run, framing: StreamFraming) -> ByteBuffer {
        let chunked = framing == .chunked
        if run.end - run.start == 1 {
            let event = self.events[Int(run.start)]
            return chunked ? event.chunk : event.payload
        }
        let key = RunKey(start: run.start, end: run.end, chunked: chunked)
        if let buffer = self.buffers[key] { return buffer }
        let range = Int(run.start)..<Int(run.end)
        var size = 0
        for index in range {
            size += chunked ? self.events[index].chunk.readableBytes : self.events[index].payload.readableBytes
        }
        var buffer = self.allocator.buffer(capacity: size)
        for index in range {
            buffer.writeImmutableBuffer(chunked ? self.events[index].chunk : self.events[index].payload)
        }
        self.buffers[key] = buffer
        return buffer
    }
}
