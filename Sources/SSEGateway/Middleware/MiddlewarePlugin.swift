/// A middleware that `config.json` can name: `{"use": "<name>", ...settings}` in a `middleware` list.
///
/// Settings are the entry's other keys. Read them with the ``ConfigObject`` readers so that a wrong value is reported
/// with its JSON path; keys the plugin never reads are rejected after `init` returns, naming the ones it knows.
public protocol MiddlewarePlugin: Middleware {
    /// The name `config.json` uses for this middleware.
    static var name: String { get }

    /// Reads the settings and prepares the middleware; throw a ``ConfigError`` (from a ``ConfigNode`` reader or
    /// ``ConfigNode/error(_:)``) for settings that cannot work.
    init(settings: ConfigObject, context: MiddlewareContext) throws(ConfigError)
}
