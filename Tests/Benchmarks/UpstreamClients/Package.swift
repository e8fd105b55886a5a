// swift-tools-version:6.0
// A standalone benchmark client for Tests/Benchmarks/upstream-clients.sh: COUNT long-lived SSE GET streams to one
// backend, over NIO's own HTTP/1 client pipeline (as Sources/SSEGateway/Upstream/UpstreamConnection.swift) or over
// async-http-client. Built on its own, with its own scratch path, so that the gateway never depends on
// async-http-client.
import PackageDescription

let package = Package(
    name: "UpstreamClients",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
    ],
    targets: [
        .executableTarget(
            name: "upstream-clients",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
            ]
        )
    ],
    swiftLanguageModes: [.v6]
)
