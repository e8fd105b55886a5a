import NIOCore

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The TCP options that let the kernel notice a dead peer, computed once from the configuration and applied to
/// every stream's socket.
struct DeadPeerSocketOptions: Sendable {
    struct Setting: Sendable {
        var option: ChannelOptions.Types.SocketOption
        var value: SocketOptionValue
        /// For logs: the option's C name.
        var name: String
    }

    let settings: [Setting]

    init(_ configuration: HeartbeatMiddleware.Configuration) {
        var settings: [Setting] = []
        #if os(Linux)
            if let timeout = configuration.tcpUserTimeout {
                settings.append(
                    Setting(
                        option: Self.tcp(TCP_USER_TIMEOUT),
                        value: SocketOptionValue(clamping: Self.milliseconds(timeout)),
                        name: "TCP_USER_TIMEOUT"
                    )
                )
            }
        #endif
        if let keepAlive = configuration.tcpKeepAlive {
            settings.append(Setting(option: .init(level: .socket, name: .so_keepalive), value: 1, name: "SO_KEEPALIVE"))
            #if os(Linux)
                let idle = (TCP_KEEPIDLE, "TCP_KEEPIDLE")
            #else
                let idle = (TCP_KEEPALIVE, "TCP_KEEPALIVE")
            #endif
            settings.append(
                Setting(option: Self.tcp(idle.0), value: Self.seconds(keepAlive.idle), name: idle.1)
            )
            settings.append(
                Setting(option: Self.tcp(TCP_KEEPINTVL), value: Self.seconds(keepAlive.interval), name: "TCP_KEEPINTVL")
            )
            settings.append(
                Setting(option: Self.tcp(TCP_KEEPCNT), value: SocketOptionValue(keepAlive.count), name: "TCP_KEEPCNT")
            )
        }
        self.settings = settings
    }

    private static func tcp(_ name: Int32) -> ChannelOptions.Types.SocketOption {
        .init(level: .tcp, name: NIOBSDSocket.Option(rawValue: name))
    }

    private static func milliseconds(_ duration: Duration) -> Int64 {
        let (seconds, attoseconds) = duration.components
        // Round up: a sub-millisecond remainder must not turn a tiny timeout into 0, which means "system default".
        return seconds * 1000 + (attoseconds + 999_999_999_999_999) / 1_000_000_000_000_000
    }

    private static func seconds(_ duration: Duration) -> SocketOptionValue {
        SocketOptionValue(clamping: duration.components.seconds)
    }
}
