// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "alipay-notify",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "AlipayKit", targets: ["AlipayKit"]),
        // For the merchant's application: verifies the order events alipay-notify delivers (Standard Webhooks v1).
        .library(name: "AlipayNotifyWebhooks", targets: ["AlipayNotifyWebhooks"]),
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
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.81.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.25.0"),
        .package(url: "https://github.com/apple/swift-certificates.git", from: "1.21.0"),
        .package(url: "https://github.com/apple/swift-asn1.git", from: "1.7.0"),
        // The daily statement arrives as a zip.
        .package(url: "https://github.com/weichsel/ZIPFoundation.git", from: "0.9.20"),
    ],
    targets: [
        // The Alipay protocol: keys, signatures, sign strings, forms, notifications, requests, responses, gateway client.
        .target(
            name: "AlipayKit",
            dependencies: [
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ZIPFoundation", package: "ZIPFoundation"),
            ]
        ),
        // Standard Webhooks v1 signing and verification; depends on nothing of ours, so a merchant's app can use it alone.
        .target(name: "AlipayNotifyWebhooks", dependencies: [.product(name: "Crypto", package: "swift-crypto")]),
        // The store contract: records, the unit of work, the queue's operations, the group-commit writer. No engine.
        .target(
            name: "NotifyStore",
            dependencies: [
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
            ]
        ),
        // The SQLite engine (GRDB): WAL, synchronous=FULL, named migrations, the embedded default.
        .target(
            name: "NotifyStoreSQLite",
            dependencies: [
                "NotifyStore",
                .product(name: "GRDB", package: "GRDB.swift"),
                // SQLite's C API, for the statements of the worker's apply path (HandBoundStatement.swift).
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
            ]
        ),
        // The PostgreSQL engine (PostgresNIO): SKIP LOCKED claims, LISTEN/NOTIFY wake-ups, advisory-locked migrations.
        .target(
            name: "NotifyStorePostgres",
            dependencies: [
                "NotifyStore",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // Opens the engine `store.url` names; the only module that knows both engines.
        .target(
            name: "NotifyStoreEngines",
            dependencies: [
                "NotifyStore", "NotifyStoreSQLite", "NotifyStorePostgres",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // The domain: configuration, order state machine, processing rules, reconciliation, backoff, the worker.
        .target(
            name: "NotifyCore",
            dependencies: [
                "AlipayKit",
                "AlipayNotifyWebhooks",
                "NotifyStore",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
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
                .product(name: "Crypto", package: "swift-crypto"),
                "NotifyStore",
                "NotifyCore",
                "DaemonSupport",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
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
                "NotifyReceiver", "NotifyCore", "DaemonSupport", "AlipayKit", "NotifyStore", "NotifyStoreEngines",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .executableTarget(
            name: "notify-worker",
            dependencies: [
                "NotifyCore", "DaemonSupport", "AlipayKit", "NotifyStore", "NotifyStoreEngines",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .executableTarget(
            name: "notifyctl",
            dependencies: [
                "AlipayKit", "NotifyStore", "NotifyCore", "NotifyStoreEngines", "NotifyStoreSQLite", "AlipayNotifyWebhooks",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
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
                "NotifyStore", "NotifyStoreSQLite", "NotifyStoreEngines",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .testTarget(
            name: "AlipayKitTests", dependencies: ["AlipayKit", .product(name: "X509", package: "swift-certificates")],
            resources: [.copy("Fixtures")]),
        .testTarget(name: "AlipayNotifyWebhooksTests", dependencies: ["AlipayNotifyWebhooks", "StoreTestSupport"]),
        .testTarget(
            name: "NotifyStoreTests",
            dependencies: [
                "NotifyStore", "NotifyStoreSQLite", "StoreTestSupport", .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "MetricsTestKit", package: "swift-metrics"),
            ]
        ),
        // The older tests' view of the store contract (job ids and owners), shared by the test targets.
        .target(name: "StoreTestSupport", dependencies: ["NotifyStore"], path: "Tests/StoreTestSupport"),
        // One suite over the store contract, run against every engine (SQLite always, PostgreSQL when a server is given).
        .testTarget(
            name: "StoreConformanceTests",
            dependencies: [
                "NotifyStore", "NotifyStoreSQLite", "NotifyStorePostgres", "NotifyStoreEngines", "StoreTestSupport",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(
            name: "NotifyCoreTests",
            dependencies: [
                "NotifyCore", "AlipayKit", "NotifyStore", "NotifyStoreSQLite", "StoreTestSupport",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "MetricsTestKit", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .testTarget(
            name: "NotifyReceiverTests",
            dependencies: [
                "NotifyReceiver", "NotifyCore", "AlipayKit", "NotifyStore", "NotifyStoreSQLite", "StoreTestSupport",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "GRDB", package: "GRDB.swift"),
            ]
        ),
        .testTarget(
            name: "AlipaySandboxTests",
            dependencies: [
                "AlipaySandbox", "AlipayKit", "StoreTestSupport",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "ZIPFoundation", package: "ZIPFoundation"),
            ]
        ),
        // Property-based tests of invariants 4 and 5 and of the signature and form round trips.
        .testTarget(
            name: "PropertyTests",
            dependencies: [
                "AlipayKit", "NotifyCore", "NotifyStore", "NotifyStoreSQLite", "StoreTestSupport",
                .product(name: "PropertyBased", package: "swift-property-based"),
                .product(name: "GRDB", package: "GRDB.swift"),
            ]
        ),
        .testTarget(
            name: "EndToEndTests",
            dependencies: [
                "AlipayKit", "NotifyStore", "NotifyStoreSQLite", "NotifyStoreEngines", "StoreTestSupport", "AlipayNotifyWebhooks",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "GRDB", package: "GRDB.swift"),
            ]
        ),
    ]
)
