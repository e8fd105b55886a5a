import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The bound on every wait on a child process: a child that never answers fails the test with what it wrote, and is
/// gone afterwards.
@Suite("waits on a child process are bounded")
struct ChildProcessTests {
    @Test func aChildThatNeverExitsIsKilledAtTheBound() async throws {
        let child = try ChildProcess(
            executable: URL(fileURLWithPath: "/bin/sh"),
            arguments: ["-c", "echo 'about to sleep' >&2; echo 'some output'; exec /bin/sleep 30"]
        )
        try await child.waitFor("the first line", timeout: .seconds(10)) { $0.standardError.contains("about to") }
        let started = ContinuousClock.now
        let failure = await #expect(throws: ChildProcess.Failure.self) {
            try await child.waitForExit(timeout: .milliseconds(300))
        }
        let elapsed = ContinuousClock.now - started
        #expect(elapsed < .seconds(5), "failed after \(elapsed)")
        let message = try #require(failure).description
        #expect(message.contains("timed out after 300 ms waiting for the process to exit"), "\(message)")
        #expect(message.contains("killed it (SIGKILL)"), "\(message)")
        #expect(message.contains("/bin/sleep 30"), "the command is named: \(message)")
        #expect(message.contains("about to sleep"), "standard error is quoted: \(message)")
        #expect(message.contains("some output"), "standard output is quoted: \(message)")
        #expect(Self.isGone(child))
    }

    @Test func aWaitForOutputThatNeverComesIsBoundedToo() async throws {
        let child = try ChildProcess(executable: URL(fileURLWithPath: "/bin/sleep"), arguments: ["30"])
        let started = ContinuousClock.now
        let failure = await #expect(throws: ChildProcess.Failure.self) {
            try await child.waitFor("a greeting", timeout: .milliseconds(300)) { $0.standardError.contains("hello") }
        }
        #expect(ContinuousClock.now - started < .seconds(5))
        #expect(try #require(failure).description.contains("waiting for a greeting"))
        #expect(Self.isGone(child))
    }

    @Test func aChildThatEndsFirstFailsTheWaitAtOnce() async throws {
        let child = try ChildProcess(
            executable: URL(fileURLWithPath: "/bin/sh"), arguments: ["-c", "echo 'bad config' >&2; exit 1"])
        let started = ContinuousClock.now
        let failure = await #expect(throws: ChildProcess.Failure.self) {
            try await child.waitFor("a greeting", timeout: .seconds(30)) { $0.standardError.contains("hello") }
        }
        #expect(ContinuousClock.now - started < .seconds(10))
        let message = try #require(failure).description
        #expect(message.contains("the process ended before a greeting"), "\(message)")
        #expect(message.contains("exit status: 1"), "\(message)")
        #expect(message.contains("bad config"), "\(message)")
    }

    @Test func aChildThatExitsGivesItsStatusAndAllItsOutput() async throws {
        let result = try await ChildProcess.run(
            executable: URL(fileURLWithPath: "/bin/sh"),
            arguments: ["-c", "head -c 200000 /dev/zero | tr '\\0' x; echo; echo done >&2; exit 7"],
            timeout: .seconds(30)
        )
        #expect(result.status == 7)
        #expect(result.standardOutput.count == 200_001, "more than a pipe's buffer, read while the child runs")
        #expect(result.standardError == "done\n")
    }

    /// Whether the child has exited and been reaped: its pid no longer names a process.
    static func isGone(_ child: ChildProcess) -> Bool {
        !child.isRunning && kill(child.processIdentifier, 0) == -1 && errno == ESRCH
    }
}
