// Written by hand: NIO offers no hook that runs after an event loop's next poll, and this is that hook.
import Glibc
import NIOCore
import NIOPosix

/// Runs work on its event loop after the loop has next polled its sockets (`epoll_wait`).
///
/// Publishes keep their arrival order with it. NIO registers sockets level-triggered, and epoll keeps a socket it
/// has reported at its place in the ready list until the next poll looks at it again. A publish answered before
/// that poll lets its client's next publish arrive while the socket still holds its old place, and epoll then
/// reports it ahead of publishes that reached other connections earlier, so the hub would take them out of the
/// order they arrived in. An answer flushed after the next poll cannot be overtaken that way: the poll has dropped
/// the idle socket from the ready list, and the client's next request queues behind those that arrived before it.
///
/// Work deferred during a loop turn is sealed by a task at the end of that turn, which also writes one byte to a
/// pipe registered on the loop. The next poll returns at once to report the pipe, and reading it runs the sealed
/// work. Work deferred in that turn before the pipe is read waits for the next seal: its poll is still to come.
/// One `write` and one `read` per turn that defers work, however many answers wait.
final class PollBarrier: @unchecked Sendable {
    // @unchecked: the mutable state is touched on `eventLoop` only (asserted in debug builds).
    let eventLoop: any EventLoop
    private enum State {
        case unopened
        /// `wake` writes the byte; it returns false when it could not.
        case open(reader: (any Channel)?, wake: () -> Bool, close: () -> Void)
        case closed
    }
    private var state = State.unopened
    /// Deferred in this turn: the poll after it is still to come.
    private var unsealed: [() -> Void] = []
    /// Sealed at the end of an earlier turn: the next pipe read runs them.
    private var sealed: [() -> Void] = []
    private var sealScheduled = false
    /// A byte is in the pipe, so a poll will report it.
    private var awake = false

    init(eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
    }

    /// Registers the pipe on the loop; until then, and after ``close()``, work runs at once.
    func open() -> EventLoopFuture<Void> {
        var ends: [CInt] = [-1, -1]
        guard pipe(&ends) == 0 else {
            return self.eventLoop.makeFailedFuture(IOError(errnoCode: errno, reason: "pipe"))
        }
        let (readEnd, writeEnd) = (ends[0], ends[1])
        for end in ends {
            _ = fcntl(end, F_SETFD, FD_CLOEXEC)
            _ = fcntl(end, F_SETFL, fcntl(end, F_GETFL) | O_NONBLOCK)
        }
        return NIOPipeBootstrap(group: self.eventLoop)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(Reader(barrier: self))
                }
            }
            .takingOwnershipOfDescriptor(input: readEnd)
            .flatMapErrorThrowing { error in
                _ = Glibc.close(readEnd)
                _ = Glibc.close(writeEnd)
                throw error
            }
            .hop(to: self.eventLoop)
            .map { reader in
                let wake = {
                    var byte: UInt8 = 1
                    return Glibc.write(writeEnd, &byte, 1) == 1 || errno == EAGAIN
                }
                self.start(reader: reader, wake: wake) { _ = Glibc.close(writeEnd) }
            }
    }

    /// Starts deferring with `wake` as the way to make the loop poll and then call ``polled()``; `open()` passes
    /// the pipe, tests a stand-in.
    func start(reader: (any Channel)?, wake: @escaping () -> Bool, close: @escaping () -> Void = {}) {
        self.eventLoop.assertInEventLoop()
        guard case .unopened = self.state else {
            reader?.close(promise: nil)
            close()
            return
        }
        self.state = .open(reader: reader, wake: wake, close: close)
    }

    /// Runs `work` on the loop once it has polled again; at once when the barrier is not open.
    func afterNextPoll(_ work: @escaping () -> Void) {
        self.eventLoop.assertInEventLoop()
        guard case .open = self.state else {
            work()
            return
        }
        self.unsealed.append(work)
        guard !self.sealScheduled else { return }
        self.sealScheduled = true
        // Tasks queued now run at the end of this turn, before the loop polls again.
        self.eventLoop.execute { self.seal() }
    }

    /// Runs what waits and closes the pipe.
    func close() {
        self.eventLoop.assertInEventLoop()
        if case .open(let reader, _, let close) = self.state {
            reader?.close(promise: nil)
            close()
        }
        self.state = .closed
        let work = self.sealed + self.unsealed
        self.sealed = []
        self.unsealed = []
        for item in work { item() }
    }

    /// The end of a turn that deferred work: it waits for the next poll, which the byte makes happen at once.
    func seal() {
        self.eventLoop.assertInEventLoop()
        self.sealScheduled = false
        self.sealed += self.unsealed
        self.unsealed.removeAll(keepingCapacity: true)
        guard case .open(_, let wake, _) = self.state, !self.sealed.isEmpty, !self.awake else { return }
        if wake() {
            self.awake = true
        } else {
            self.polled()
        }
    }

    /// The pipe was read, so the loop has polled since every seal so far.
    func polled() {
        self.eventLoop.assertInEventLoop()
        self.awake = false
        let work = self.sealed
        self.sealed.removeAll(keepingCapacity: true)
        for item in work { item() }
    }

    /// Reads the wake-up bytes: the poll that reported them has happened.
    private final class Reader: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        private let barrier: PollBarrier

        init(barrier: PollBarrier) {
            self.barrier = barrier
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            self.barrier.polled()
        }
    }
}
