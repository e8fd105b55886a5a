import ArgumentParser
import Foundation
import Logging
import PostgresStore
import SQLiteStore
import SSEGateway
import ServiceLifecycle
import UnixSignals

@main
struct SSEGatewayCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sse-gateway",
        abstract: "A Server-Sent Events gateway that speaks the Mercure protocol.",
        subcommands: [Serve.self, CheckConfig.self],
        defaultSubcommand: Serve.self
    )
}

/// Loads a configuration file, printing the problem and exiting 1 when it is invalid.
func loadConfiguration(path: String) throws -> GatewayConfiguration {
    do {
        return try GatewayConfiguration.load(path: path)
    } catch {
        printError("\(path): \(error)")
        throw ExitCode(1)
    }
}

/// The kinds of event store `hub.store` may name: `memory`, `sqlite` and `postgres`.
let eventStores: EventStoreRegistry = {
    var stores = EventStoreRegistry()
    stores.register(SQLiteStorePlugin.self)
    stores.register(PostgresStorePlugin.self)
    return stores
}()

func printError(_ message: String) {
    FileHandle.standardError.write(Data("error: \(message)\n".utf8))
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the gateway.")

    @Option(name: .shortAndLong, help: "Path of the JSON configuration file.")
    var config: String = "config.json"

    @OptionGroup var plugins: TestPluginOptions

    func run() async throws {
        // A file-size limit (RLIMIT_FSIZE) then fails the store's write, which is answered 503 and recovered from,
        // instead of killing the gateway.
        signal(SIGXFSZ, SIG_IGN)
        let configuration = try loadConfiguration(path: self.config)
        let level = Logger.Level(rawValue: configuration.logging.level.rawValue) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "sse-gateway")
        let server: GatewayServer
        do {
            server = try GatewayServer(
                configuration: configuration, registry: self.plugins.registry, stores: eventStores, logger: logger)
        } catch {
            printError("\(self.config): \(error)")
            throw ExitCode(1)
        }
        for warning in server.warnings {
            logger.warning("config: \(warning)")
        }
        let signals = configuration.shutdown.signals.map(\.unixSignal)
        let group = ServiceGroup(
            configuration: .init(
                services: [.init(service: server)],
                gracefulShutdownSignals: signals,
                logger: logger
            )
        )
        do {
            // A store that cannot be opened stops the gateway before it listens, naming the setting at fault.
            try await server.openStore()
        } catch {
            printError("\(self.config): \(error)")
            throw ExitCode(1)
        }
        // SIGHUP re-reads the TLS certificate and key; a failed reload keeps the previous ones, as logged.
        let reloads = Task {
            guard configuration.server.tls != nil else { return }
            for await _ in await UnixSignalsSequence(trapping: .sighup) {
                server.reloadTLSCertificates(trigger: "SIGHUP")
            }
        }
        defer { reloads.cancel() }
        try await group.run()
        // The exit codes are documented on ShutdownExitCode: 0 clean, 3 a handler failed, 4 hard deadline, 5 fast exit.
        if let code = server.shutdownExitCode, code != .clean {
            throw ExitCode(code.rawValue)
        }
    }
}

struct CheckConfig: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check-config",
        abstract: "Validate a configuration file: exit 0 when it is valid, 1 with the problem otherwise."
    )

    @Argument(help: "Path of the JSON configuration file.")
    var path: String = "config.json"

    @OptionGroup var plugins: TestPluginOptions

    func run() throws {
        let configuration = try loadConfiguration(path: self.path)
        let warnings: [String]
        do {
            warnings = try GatewayServer.check(
                configuration: configuration, registry: self.plugins.registry, stores: eventStores)
        } catch {
            printError("\(self.path): \(error)")
            throw ExitCode(1)
        }
        for warning in warnings {
            print("warning: \(warning)")
        }
        print("\(self.path): OK")
    }
}
