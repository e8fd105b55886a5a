// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "SSEGateway",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "SSEGateway", targets: ["SSEGateway"]),
        .library(name: "BuiltInMiddleware", targets: ["BuiltInMiddleware"]),
        .library(name: "SQLiteStore", targets: ["SQLiteStore"]),
        .library(name: "PostgresStore", targets: ["PostgresStore"]),
        .executable(name: "sse-gateway", targets: ["sse-gateway"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/vapor/jwt-kit.git", from: "5.8.0"),
        .package(url: "https://github.com/vapor/sqlite-nio.git", from: "1.13.2"),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-nio-http2.git", from: "1.46.0"),
    ],
    targets: [
        .target(
            name: "SSEGateway",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOTLS", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOHTTP2", package: "swift-nio-http2"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ]
        ),
        .systemLibrary(
            name: "CZlib",
            pkgConfig: "zlib",
            providers: [.apt(["zlib1g-dev"])]
        ),
        .target(
            name: "Auth",
            dependencies: [
                "SSEGateway",
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            path: "Plugins/Auth"
        ),
        .target(
            name: "Compression",
            dependencies: [
                "SSEGateway",
                "CZlib",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            path: "Plugins/Compression"
        ),
        .target(
            name: "Heartbeat",
            dependencies: [
                "SSEGateway",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            path: "Plugins/Heartbeat"
        ),
        .target(
            name: "Timeout",
            dependencies: [
                "SSEGateway",
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            path: "Plugins/Timeout"
        ),
        .target(
            name: "CORS",
            dependencies: [
                "SSEGateway",
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            path: "Plugins/CORS"
        ),
        .target(
            name: "RequestLogger",
            dependencies: [
                "SSEGateway",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
            ],
            path: "Plugins/RequestLogger"
        ),
        .target(
            name: "ShutdownProbe",
            dependencies: [
                "SSEGateway",
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Plugins/ShutdownProbe"
        ),
        .target(
            name: "SQLiteStore",
            dependencies: [
                "SSEGateway",
                .product(name: "SQLiteNIO", package: "sqlite-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(
            name: "PostgresStore",
            dependencies: [
                "SSEGateway",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(
            name: "BuiltInMiddleware",
            dependencies: [
                "SSEGateway", "Auth", "Compression", "Heartbeat", "Timeout", "CORS", "RequestLogger",
            ]
        ),
        .executableTarget(
            name: "sse-gateway",
            dependencies: [
                "SSEGateway",
                "BuiltInMiddleware",
                "SQLiteStore",
                "PostgresStore",
                // Only behind `--enable-test-plugins`, for the tests that run the binary.
                "ShutdownProbe",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ]
        ),
        .testTarget(
            name: "SSEGatewayTests",
            dependencies: [
                "SSEGateway",
                "BuiltInMiddleware",
                "Auth",
                "Compression",
                "Heartbeat",
                "Timeout",
                "CORS",
                "RequestLogger",
                "ShutdownProbe",
                "SQLiteStore",
                "PostgresStore",
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOHTTP2", package: "swift-nio-http2"),
                .product(name: "NIOHPACK", package: "swift-nio-http2"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)
