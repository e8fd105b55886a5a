import Foundation
import NIOConcurrencyHelpers
import NIOCore
import Testing

/// A subscriber run by `python3`, an implementation independent of ours: it opens the stream on its own socket,
/// undoes the chunked framing, feeds each chunk to `zlib.decompressobj` as it arrives and prints what that chunk
/// decoded to at once. What a test sees is therefore exactly what a client could decode when each chunk arrived.
final class PythonDecodingSubscriber: Sendable {
    struct Head: Decodable, Sendable {
        var status: Int
        var headers: [String: [String]]

        func header(_ name: String) -> [String] { self.headers[name.lowercased()] ?? [] }
    }

    struct End: Decodable, Sendable {
        /// The chunked body ended with its last chunk.
        var terminated: Bool
        /// zlib saw the end of the compressed data (gzip member or zlib stream, trailer checked); nil for identity.
        var complete: Bool?
        /// Bytes after the end of the compressed data.
        var unused: Int
        /// Bytes received after the head that were not part of a complete chunk.
        var leftover: Int
        /// The connection ended with an error (a reset) rather than a FIN.
        var error: String?
    }

    /// What the decoder has reported so far.
    struct Snapshot: Sendable {
        var head: Head?
        /// The decoded body so far.
        var text = ""
        /// How many chunks decoded to something.
        var pieces = 0
        var end: End?
        var stderr = ""

        /// Event blocks decoded so far, comments dropped.
        var events: [String] { TestSubscriber.events(in: self.text) }
    }

    private struct State {
        var snapshot = Snapshot()
        var partial = Data()
        var waiters: [(condition: @Sendable (Snapshot) -> Bool, promise: EventLoopPromise<Snapshot>)] = []
    }

    private let child: ChildProcess
    private let state: NIOLockedValueBox<State>
    private let loop = RawClient.group.next()

    private init(child: ChildProcess, state: NIOLockedValueBox<State>) {
        self.child = child
        self.state = state
    }

    /// Runs `body` with a decoder subscribed to `/.well-known/mercure?<query>` (`acceptEncoding` nil sends no
    /// `Accept-Encoding` field), and stops the decoder afterwards.
    static func with<T>(
        port: Int,
        query: String,
        acceptEncoding: String?,
        _ body: (PythonDecodingSubscriber) async throws -> T
    ) async throws -> T {
        let decoder = try Self.start(port: port, query: query, acceptEncoding: acceptEncoding)
        do {
            let result = try await body(decoder)
            await decoder.stop()
            return result
        } catch {
            await decoder.stop()
            throw error
        }
    }

    private static func start(port: Int, query: String, acceptEncoding: String?) throws -> PythonDecodingSubscriber {
        let state = NIOLockedValueBox(State())
        let child = try ChildProcess(
            executable: URL(fileURLWithPath: "/usr/bin/env"),
            arguments: [
                "python3", "-u", "-c", Self.script, String(port), "/.well-known/mercure?\(query)",
                acceptEncoding ?? "-",
            ]
        ) { data in
            Self.received(data, state: state)
        }
        return PythonDecodingSubscriber(child: child, state: state)
    }

    var snapshot: Snapshot {
        var snapshot = self.state.withLockedValue { $0.snapshot }
        snapshot.stderr = self.child.output.standardError
        return snapshot
    }

    /// Waits until what was decoded satisfies `condition`, or fails after `timeout`.
    @discardableResult
    func waitFor(
        _ what: String,
        timeout: TimeAmount = .seconds(5),
        _ condition: @escaping @Sendable (Snapshot) -> Bool
    ) async throws -> Snapshot {
        let promise = self.loop.makePromise(of: Snapshot.self)
        let ready: Snapshot? = self.state.withLockedValue { state in
            if condition(state.snapshot) { return state.snapshot }
            state.waiters.append((condition, promise))
            return nil
        }
        if let ready {
            promise.succeed(ready)
            return ready
        }
        let timer = self.loop.scheduleTask(in: timeout) {
            let snapshot = self.snapshot
            promise.fail(
                TestTimeout(
                    what: what,
                    received: "\(snapshot.text.debugDescription)\nend: \(String(describing: snapshot.end))\n"
                        + snapshot.stderr
                )
            )
        }
        promise.futureResult.whenComplete { _ in timer.cancel() }
        return try await promise.futureResult.get()
    }

    /// Waits until the decoded body holds `count` events.
    @discardableResult
    func waitForEvents(_ count: Int) async throws -> [String] {
        try await self.waitFor("\(count) decoded events") { $0.events.count >= count }.events
    }

    /// Waits until the server has closed the connection and the decoder has reported how the body ended.
    func waitForEnd() async throws -> End {
        try await self.waitFor("the end of the stream") { $0.end != nil }.end!
    }

    /// Stops the decoder if it still runs and waits, within a bound, for it to exit.
    private func stop() async {
        if !(await self.child.killAndWait()) {
            Issue.record(
                Comment(
                    rawValue: ChildProcess.describe(
                        "the python3 decoder was still not reaped 5 s after SIGKILL",
                        command: self.child.command,
                        output: self.child.output
                    )
                )
            )
        }
    }

    private static func received(_ data: Data, state: NIOLockedValueBox<State>) {
        let satisfied: [(EventLoopPromise<Snapshot>, Snapshot)] = state.withLockedValue { state in
            state.partial.append(data)
            while let newline = state.partial.firstIndex(of: UInt8(ascii: "\n")) {
                let line = state.partial[state.partial.startIndex..<newline]
                state.partial = Data(state.partial[state.partial.index(after: newline)...])
                Self.apply(line: line, to: &state.snapshot)
            }
            var satisfied: [(EventLoopPromise<Snapshot>, Snapshot)] = []
            state.waiters.removeAll { waiter in
                guard waiter.condition(state.snapshot) else { return false }
                satisfied.append((waiter.promise, state.snapshot))
                return true
            }
            return satisfied
        }
        for (promise, snapshot) in satisfied { promise.succeed(snapshot) }
    }

    private static func apply(line: Data, to snapshot: inout Snapshot) {
        guard let space = line.firstIndex(of: UInt8(ascii: " ")) else { return }
        let kind = String(decoding: line[line.startIndex..<space], as: UTF8.self)
        let json = Data(line[line.index(after: space)...])
        let decoder = JSONDecoder()
        switch kind {
        case "HEAD":
            snapshot.head = try? decoder.decode(Head.self, from: json)
        case "DATA":
            if let text = try? decoder.decode(String.self, from: json) {
                snapshot.text += text
                snapshot.pieces += 1
            }
        case "END":
            snapshot.end = try? decoder.decode(End.self, from: json)
        default:
            break
        }
    }

    /// Arguments: port, request target, `Accept-Encoding` value (`-` for none). Prints `HEAD`, `DATA` (what each chunk
    /// decoded to) and `END` lines, each followed by a JSON value.
    static let script = #"""
        import json, socket, sys, zlib

        port, target, accept = int(sys.argv[1]), sys.argv[2], sys.argv[3]

        def emit(kind, value):
            sys.stdout.write(kind + " " + json.dumps(value) + "\n")
            sys.stdout.flush()

        sock = socket.create_connection(("127.0.0.1", port))
        request = "GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        if accept != "-":
            request += "Accept-Encoding: " + accept + "\r\n"
        sock.sendall((request + "\r\n").encode())

        pending = b""
        error = None

        def receive():
            global pending, error
            try:
                data = sock.recv(65536)
            except OSError as failure:
                error = str(failure)
                return False
            pending += data
            return len(data) > 0

        while b"\r\n\r\n" not in pending:
            if not receive():
                emit("END", {"terminated": False, "unused": 0, "leftover": len(pending), "error": error})
                sys.exit(0)
        head, pending = pending.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers.setdefault(name.strip().lower(), []).append(value.strip())
        emit("HEAD", {"status": int(lines[0].split(" ")[1]), "headers": headers})

        coding = ",".join(headers.get("content-encoding", ["identity"]))
        bits = {"gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}.get(coding)
        decoder = zlib.decompressobj(bits) if bits else None
        chunked = "chunked" in ",".join(headers.get("transfer-encoding", []))
        terminated = False

        def deliver(payload):
            text = decoder.decompress(payload) if decoder else payload
            if text:
                emit("DATA", text.decode("latin-1"))

        def parse():
            global pending, terminated
            while not terminated:
                if not chunked:
                    if pending:
                        deliver(pending)
                        pending = b""
                    return
                line_end = pending.find(b"\r\n")
                if line_end < 0:
                    return
                size = int(pending[:line_end], 16)
                if size == 0:
                    if len(pending) < line_end + 4:
                        return
                    terminated = True
                    pending = pending[line_end + 4:]
                    return
                if len(pending) < line_end + 2 + size + 2:
                    return
                deliver(pending[line_end + 2:line_end + 2 + size])
                pending = pending[line_end + 2 + size + 2:]

        parse()
        while receive():
            parse()
        emit("END", {
            "terminated": terminated,
            "complete": decoder.eof if decoder else None,
            "unused": len(decoder.unused_data) if decoder else 0,
            "leftover": len(pending),
            "error": error,
        })
        """#
}
