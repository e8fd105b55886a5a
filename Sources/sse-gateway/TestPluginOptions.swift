import ArgumentParser
import BuiltInMiddleware
import SSEGateway
import ShutdownProbe

/// `--enable-test-plugins`: the opt-in that lets a configuration name the middleware the test suite runs the real
/// binary with, and that a deployment has no use for.
///
/// Hidden from `--help` (`--help-hidden` shows it): a production configuration that names `shutdown-probe` is a
/// mistake, and without the flag `check-config` and `serve` reject it as an unknown middleware.
struct TestPluginOptions: ParsableArguments {
    @Flag(
        name: .customLong("enable-test-plugins"),
        help: ArgumentHelp(
            "For the test suite only: also accept the shutdown-probe middleware, which registers shutdown handlers "
                + "that finish, throw or hang and logs every will-close call.",
            visibility: .hidden
        )
    )
    var enableTestPlugins = false

    /// The built-in middleware, plus the test plugins when the flag is given.
    var registry: MiddlewareRegistry {
        var registry = MiddlewareRegistry.builtIn
        if self.enableTestPlugins {
            registry.register(ShutdownProbeMiddleware.self)
        }
        return registry
    }
}
