import Foundation
import NIOConcurrencyHelpers
import NIOCore

#if canImport(Glibc)
    import Glibc
#endif

/// A child process of a test: its output is collected as it comes, and every wait on it is bounded.
///
/// A wait that runs out kills the child (SIGKILL: children of the test runner inherit its blocked signals, SIGTERM
/// included), waits until it is gone, and fails with the tail of what it wrote, so that a child that hangs fails its
/// test instead of hanging the suite. A child still running when its owner lets go of it is killed as well.
final class ChildProcess: Sendable {
    /// What the child has written so far, and how it ended.
    struct Output: Sendable {
        var standardOutput = ""
        var standardError = ""
        /// The exit status (the signal's number when a signal ended it), once the child has exited.
        var status: Int32?
        /// Whether both pipes have reached end of file: nothing more will arrive.
        var isComplete = false

        /// The child has exited and everything it wrote has been read.
        var isFinished: Bool { self.status != nil && self.isComplete }
    }

    /// A wait that failed: it ran out (and the child was killed), or the child ended first.
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// How long a killed child may take to be reaped before a wait gives up on it.
    static let killBound = TimeAmount.seconds(5)
    /// Lines of each stream quoted in a failure.
    static let tailLines = 40

    /// The command line, for messages.
    let command: String
    private let process: Process
    private let shared: Shared
    private let loop: any EventLoop

    /// Starts `executable` with `arguments`; `onStandardOutput` sees each piece of standard output as it arrives.
    init(
        executable: URL,
        arguments: [String],
        onStandardOutput: (@Sendable (Data) -> Void)? = nil
    ) throws {
        self.command = ([executable.path] + arguments).joined(separator: " ")
        self.process = Process()
        self.process.executableURL = executable
        self.process.arguments = arguments
        self.loop = RawClient.group.next()
        let shared = Shared(command: self.command)
        self.shared = shared
        let output = Pipe()
        let errors = Pipe()
        self.process.standardOutput = output
        self.process.standardError = errors
        // A termination handler rather than `waitUntilExit`, which can hang inside the test runner.
        self.process.terminationHandler = { process in shared.exited(status: process.terminationStatus) }
        try self.process.run()
        Self.startReading(output.fileHandleForReading, into: shared, onStandardError: false, observer: onStandardOutput)
        Self.startReading(errors.fileHandleForReading, into: shared, onStandardError: true, observer: nil)
    }

    deinit {
        if self.process.isRunning { kill(self.process.processIdentifier, SIGKILL) }
    }

    /// Runs `executable` to completion, within `timeout`, and returns everything it wrote and its status.
    static func run(executable: URL, arguments: [String], timeout: TimeAmount = .seconds(30)) async throws -> Output {
        let child = try ChildProcess(executable: executable, arguments: arguments)
        return try await child.waitFor("the process to exit", timeout: timeout) { $0.isFinished }
    }

    var processIdentifier: Int32 { self.process.processIdentifier }

    var isRunning: Bool { self.process.isRunning }

    /// What the child has written so far.
    var output: Output { self.shared.output }

    func signal(_ signal: Int32) {
        kill(self.process.processIdentifier, signal)
    }

    /// Waits until `condition` holds for what the child has written, at most `timeout`.
    ///
    /// - Throws: ``Failure`` when the time runs out, after killing the child, or when the child has finished without
    ///   `condition` ever holding; either way with the tail of its output.
    @discardableResult
    func waitFor(
        _ what: String,
        timeout: TimeAmount,
        _ condition: @escaping @Sendable (Output) -> Bool
    ) async throws -> Output {
        let promise = self.loop.makePromise(of: Output.self)
        guard let id = self.shared.addWaiter(what: what, condition: condition, promise: promise) else {
            return try await promise.futureResult.get()
        }
        let timer = self.loop.scheduleTask(in: timeout) {
            if self.shared.removeWaiter(id) { promise.fail(TimedOut()) }
        }
        promise.futureResult.whenComplete { _ in timer.cancel() }
        do {
            return try await promise.futureResult.get()
        } catch is TimedOut {
            let wasRunning = self.process.isRunning
            let gone = await self.killAndWait()
            let killed: String
            if !wasRunning {
                killed = "it had exited, but its output never ended (a process it started may hold its pipes)"
            } else if gone {
                killed = "killed it (SIGKILL)"
            } else {
                killed =
                    "killed it (SIGKILL), and it was still not reaped after \(Self.killBound.nanoseconds / 1_000_000) ms"
            }
            throw Failure(
                description: Self.describe(
                    "timed out after \(timeout.nanoseconds / 1_000_000) ms waiting for \(what); \(killed)",
                    command: self.command,
                    output: self.shared.output
                )
            )
        }
    }

    /// Waits until the child has exited and its output is read, at most `timeout`; returns its status.
    func waitForExit(timeout: TimeAmount = .seconds(30)) async throws -> Int32 {
        try await self.waitFor("the process to exit", timeout: timeout) { $0.isFinished }.status!
    }

    /// Sends SIGKILL if the child still runs and waits until it has exited, at most ``killBound``; returns whether it
    /// has.
    @discardableResult
    func killAndWait() async -> Bool {
        if self.process.isRunning { kill(self.process.processIdentifier, SIGKILL) }
        let promise = self.loop.makePromise(of: Output.self)
        guard let id = self.shared.addWaiter(what: "exit", condition: { $0.status != nil }, promise: promise) else {
            return true
        }
        let timer = self.loop.scheduleTask(in: Self.killBound) {
            if self.shared.removeWaiter(id) { promise.fail(TimedOut()) }
        }
        promise.futureResult.whenComplete { _ in timer.cancel() }
        return (try? await promise.futureResult.get()) != nil
    }

    /// Reads `handle` to its end on a thread of its own. Blocking reads, because a `readabilityHandler` sometimes
    /// misses the end of file of a pipe whose writer has exited, and a wait for the end would then run out.
    private static func startReading(
        _ handle: FileHandle,
        into shared: Shared,
        onStandardError: Bool,
        observer: (@Sendable (Data) -> Void)?
    ) {
        let thread = Thread {
            // The handle closes its descriptor when it goes: it is held until the end of file.
            let descriptor = handle.fileDescriptor
            var buffer = [UInt8](repeating: 0, count: 65_536)
            while true {
                let count = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
                if count < 0, errno == EINTR { continue }
                guard count > 0 else { break }
                let data = Data(buffer[..<count])
                observer?(data)
                shared.received(data, onStandardError: onStandardError)
            }
            shared.received(Data(), onStandardError: onStandardError)
            withExtendedLifetime(handle) {}
        }
        thread.name = onStandardError ? "child stderr" : "child stdout"
        thread.start()
    }

    static func describe(_ problem: String, command: String, output: Output) -> String {
        var text = "\(problem)\ncommand: \(command)"
        if let status = output.status { text += "\nexit status: \(status)" }
        text += "\nstandard error (last \(Self.tailLines) lines):\n\(Self.tail(output.standardError))"
        text += "\nstandard output (last \(Self.tailLines) lines):\n\(Self.tail(output.standardOutput))"
        return text
    }

    private static func tail(_ text: String) -> String {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        return lines.suffix(Self.tailLines).joined(separator: "\n")
    }

    private struct TimedOut: Error {}

    /// The state the pipe and termination handlers update, apart from the process object so that they do not keep
    /// the child's owner alive.
    private final class Shared: Sendable {
        struct Waiter {
            var id: Int
            var what: String
            var condition: @Sendable (Output) -> Bool
            var promise: EventLoopPromise<Output>
        }

        struct State {
            var output = Output()
            var openPipes = 2
            var waiters: [Waiter] = []
            var nextID = 0
        }

        private let state: NIOLockedValueBox<State>
        let command: String

        init(command: String) {
            self.state = NIOLockedValueBox(State())
            self.command = command
        }

        var output: Output { self.state.withLockedValue { $0.output } }

        /// Registers a waiter, or completes `promise` at once (and returns nil) when the outcome is already known.
        func addWaiter(
            what: String,
            condition: @escaping @Sendable (Output) -> Bool,
            promise: EventLoopPromise<Output>
        ) -> Int? {
            let (id, ready): (Int?, Result<Output, any Error>?) = self.state.withLockedValue { state in
                if condition(state.output) { return (nil, .success(state.output)) }
                if state.output.isFinished { return (nil, .failure(self.ended(before: what, state.output))) }
                let id = state.nextID
                state.nextID += 1
                state.waiters.append(Waiter(id: id, what: what, condition: condition, promise: promise))
                return (id, nil)
            }
            if let ready { promise.completeWith(ready) }
            return id
        }

        /// Removes a waiter that has not been completed; returns whether it was still waiting.
        func removeWaiter(_ id: Int) -> Bool {
            self.state.withLockedValue { state in
                guard let index = state.waiters.firstIndex(where: { $0.id == id }) else { return false }
                state.waiters.remove(at: index)
                return true
            }
        }

        func received(_ data: Data, onStandardError: Bool) {
            self.update { state in
                if data.isEmpty {
                    state.openPipes -= 1
                    state.output.isComplete = state.openPipes == 0
                } else if onStandardError {
                    state.output.standardError += String(decoding: data, as: UTF8.self)
                } else {
                    state.output.standardOutput += String(decoding: data, as: UTF8.self)
                }
            }
        }

        func exited(status: Int32) {
            self.update { $0.output.status = status }
        }

        /// Applies `change`, then completes the waiters whose condition now holds, and fails those that can no longer
        /// be satisfied because the child has finished.
        private func update(_ change: (inout State) -> Void) {
            let completions: [(EventLoopPromise<Output>, Result<Output, any Error>)] = self.state.withLockedValue {
                state in
                change(&state)
                var completions: [(EventLoopPromise<Output>, Result<Output, any Error>)] = []
                state.waiters.removeAll { waiter in
                    if waiter.condition(state.output) {
                        completions.append((waiter.promise, .success(state.output)))
                        return true
                    }
                    if state.output.isFinished {
                        completions.append((waiter.promise, .failure(self.ended(before: waiter.what, state.output))))
                        return true
                    }
                    return false
                }
                return completions
            }
            for (promise, result) in completions { promise.completeWith(result) }
        }

        private func ended(before what: String, _ output: Output) -> Failure {
            Failure(
                description: ChildProcess.describe(
                    "the process ended before \(what)", command: self.command, output: output)
            )
        }
    }
}
