// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "alipay-notify",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "AlipayKit", targets: ["AlipayKit"]),
        .executable(name: "notify-receiver", targets: ["notify-receiver"]),
        .executable(name: "notify-worker", targets: ["notify-worker"]),
        .executable(name: "notifyctl", targets: ["notifyctl"]),
        .executable(name: "alipay-sandbox", targets: ["alipay-sandbox"]),
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.0"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        .package(url: "https://github.com/apple/swift-crypto.git", "3.12.0"..<"5.0.0"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.0"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.0"),
        .package(url: "https://github.com/apple/swift-configuration.git", from: "1.4.0"),
        .package(url: "https://github.com/x-sheep/swift-property-based.git", from: "2.0.1"),
    ],
    targets: [
        // The Alipay protocol: keys, signatures, sign strings, forms, notifications, requests, responses, gateway client.
        .target(
            name: "AlipayKit",
            dependencies: [
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // SQLite through GRDB: migrations, the durable job queue, notifications, orders, order events.
        .target(
            name: "NotifyStore",
            dependencies: [
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
            ]
        ),
        // The domain: configuration, order state machine, processing rules, reconciliation, backoff, the worker.
        .target(
            name: "NotifyCore",
            dependencies: [
                "AlipayKit",
                "NotifyStore",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Configuration", package: "swift-configuration"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // What every daemon shares: systemd notify protocol, logging and metrics bootstrap, start-up errors.
        .target(
            name: "DaemonSupport",
            dependencies: [
                "NotifyCore",
                "NotifyStore",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // The receiver's HTTP applications: the public listener and the internal API.
        .target(
            name: "NotifyReceiver",
            dependencies: [
                "AlipayKit",
                "NotifyStore",
                "NotifyCore",
                "DaemonSupport",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // A local, protocol-faithful Alipay gateway.
        .target(
            name: "AlipaySandbox",
            dependencies: [
                "AlipayKit",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Configuration", package: "swift-configuration"),
            ]
        ),
        .executableTarget(
            name: "notify-receiver",
            dependencies: [
                "NotifyReceiver", "NotifyCore", "DaemonSupport", "AlipayKit", "NotifyStore",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .executableTarget(
            name: "notify-worker",
            dependencies: [
                "NotifyCore", "DaemonSupport", "AlipayKit",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .executableTarget(
            name: "notifyctl",
            dependencies: [
                "AlipayKit", "NotifyStore", "NotifyCore",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .executableTarget(
            name: "alipay-sandbox",
            dependencies: [
                "AlipaySandbox", "AlipayKit", "DaemonSupport",
                .product(name: "Configuration", package: "swift-configuration"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // Store benchmarks on release builds for scripts/bench (queue enqueue/claim at 1M rows); not installed.
        .executableTarget(
            name: "notify-bench",
            dependencies: [
                "NotifyStore",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .testTarget(name: "AlipayKitTests", dependencies: ["AlipayKit"], resources: [.copy("Fixtures")]),
        .testTarget(name: "NotifyStoreTests", dependencies: ["NotifyStore", .product(name: "MetricsTestKit", package: "swift-metrics")]),
        .testTarget(
            name: "NotifyCoreTests",
            dependencies: [
                "NotifyCore", "AlipayKit", "NotifyStore",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "MetricsTestKit", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .testTarget(
            name: "NotifyReceiverTests",
            dependencies: [
                "NotifyReceiver", "NotifyCore", "AlipayKit", "NotifyStore",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "GRDB", package: "GRDB.swift"),
            ]
        ),
        .testTarget(
            name: "AlipaySandboxTests",
            dependencies: [
                "AlipaySandbox", "AlipayKit",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
            ]
        ),
        // Property-based tests of invariants 4 and 5 and of the signature and form round trips.
        .testTarget(
            name: "PropertyTests",
            dependencies: [
                "AlipayKit", "NotifyCore", "NotifyStore",
                .product(name: "PropertyBased", package: "swift-property-based"),
                .product(name: "GRDB", package: "GRDB.swift"),
            ]
        ),
        .testTarget(
            name: "EndToEndTests",
            dependencies: [
                "AlipayKit", "NotifyStore",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "GRDB", package: "GRDB.swift"),
            ]
        ),
    ]
)
