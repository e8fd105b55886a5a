// upstream-clients MODE URL COUNT: opens COUNT concurrent SSE GET streams to URL on one event loop, MODE `nio` (NIO's
// own HTTP/1 client pipeline, as the gateway's upstream routes) or `ahc` (async-http-client), for
// Tests/Benchmarks/upstream-clients.sh. Talks on stdin and stdout, one line each:
//   prints `warm` once the first stream has its head, then waits for the line `open` (the script reads its baseline
//   memory in between), opens the other COUNT - 1 streams and prints `ready` once they all have their head;
//   on each line `report`, prints {"events": N, "bytes": M, "ended": E}: the "\n\n" and body bytes received across
//   all streams so far, and the streams that have ended; exits at the end of stdin. Any stream that fails to open
//   ends the program with status 1.
import AsyncHTTPClient
import NIOCore
import NIOPosix

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A line on stdout, unbuffered: the script waits for each one.
func say(_ line: String) {
    var text = line + "\n"
    text.withUTF8 { _ = write(1, $0.baseAddress, $0.count) }
}

func fail(_ message: String) -> Never {
    var text = "upstream-clients: \(message)\n"
    text.withUTF8 { _ = write(2, $0.baseAddress, $0.count) }
    exit(1)
}

/// Waits until `count` more streams have their head; fails on the first that could not open.
@MainActor
func waitForHeads(_ count: Int, _ signals: inout AsyncStream<String?>.Iterator) async {
    for _ in 0..<count {
        guard let result = await signals.next(isolation: #isolation) else { fail("the streams' signals ended") }
        if let failure = result { fail("a stream failed to open: \(failure)") }
    }
}

/// Parses the arguments, opens the streams, then answers stdin until it ends.
@MainActor
func run() async -> Never {
    let arguments = CommandLine.arguments
    guard arguments.count == 4, ["nio", "ahc"].contains(arguments[1]), let count = Int(arguments[3]), count >= 1 else {
        fail("usage: upstream-clients nio|ahc URL COUNT")
    }
    let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    let eventLoop = group.next()
    let totals = Totals()
    let (signals, started) = AsyncStream<String?>.makeStream()
    let target: Target
    do {
        target = try Target(url: arguments[2], totals: totals, started: started)
    } catch {
        fail("\(error)")
    }

    var client: HTTPClient? = nil
    if arguments[1] == "ahc" {
        var configuration = HTTPClient.Configuration()
        // One connection per stream: with the default soft limit (8 per host) every stream past the eighth would
        // wait in the pool's queue for a connection that never frees up.
        configuration.connectionPool = .init(
            idleTimeout: .seconds(600), concurrentHTTP1ConnectionsPerHostSoftLimit: count)
        client = HTTPClient(eventLoopGroup: group, configuration: configuration)
    }
    let startStream = { [client] in
        if let client {
            startAHCStream(target, client: client)
        } else {
            startNIOStream(target, on: eventLoop)
        }
    }

    var heads = signals.makeAsyncIterator()
    startStream()
    await waitForHeads(1, &heads)
    say("warm")
    guard readLine() == "open" else { exit(0) }
    for _ in 1..<count { startStream() }
    await waitForHeads(count - 1, &heads)
    say("ready")
    while let line = readLine() {
        if line == "report" { say(totals.json) }
    }
    exit(0)
}

await run()
