// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "delivery-ledger",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "DeliveryLedger", targets: ["DeliveryLedger", "LedgerIngest"]),
        .executable(name: "ledger", targets: ["ledger"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/apple/swift-algorithms", from: "1.2.1"),
        // Persistent hash maps for the projection's in-memory tail: a reader's snapshot shares structure
        // with the writer's copy instead of being copied on the writer's next change.
        .package(url: "https://github.com/apple/swift-collections", from: "1.6.0"),
        // The service (`ledger serve`): HTTP server, lifecycle, metrics. Hummingbird's swift-configuration
        // support is left out (its trait): the service is configured by the command line.
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1", traits: ["FullFoundation"]),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
    ],
    targets: [
        // The LMDB C library, from Debian's liblmdb-dev (pkg-config name "lmdb").
        .systemLibrary(
            name: "CLMDB",
            pkgConfig: "lmdb",
            providers: [.apt(["liblmdb-dev"])]
        ),
        // The only module that calls mdb_*.
        .target(name: "LMDBKit", dependencies: ["CLMDB"]),
        // The zstd C library, from Debian's libzstd-dev (pkg-config name "libzstd"): compresses the
        // raw source bytes of the log's records with dictionaries trained on the feed's documents.
        .systemLibrary(
            name: "CZstd",
            pkgConfig: "libzstd",
            providers: [.apt(["libzstd-dev"])]
        ),
        // The only module that calls ZSTD_* / ZDICT_*.
        .target(name: "ZstdKit", dependencies: ["CZstd"]),
        // The library users embed: model, codec, store, projections, qualification.
        .target(
            name: "DeliveryLedger",
            dependencies: [
                "LMDBKit", "ZstdKit",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Algorithms", package: "swift-algorithms"),
                .product(name: "HashTreeCollections", package: "swift-collections"),
            ],
            resources: [.copy("Qualification/Resources/default-rules.json")]
        ),
        // Readers that turn MTA feedback (canonical JSONL, SparkPost) into events.
        .target(
            name: "LedgerIngest",
            dependencies: [
                "DeliveryLedger",
                .product(name: "Crypto", package: "swift-crypto"),
                // RSA (PKCS #1 v1.5) for the Postal and Amazon SNS webhook signatures.
                .product(name: "_CryptoExtras", package: "swift-crypto"),
            ]
        ),
        // Deterministic, realistic workloads (demo, benchmarks).
        .target(name: "LedgerWorkload", dependencies: ["DeliveryLedger"]),
        // The documents the CLI prints and the service answers (JSON shapes of Schemas/, the SVG chart).
        .target(name: "LedgerReports", dependencies: ["DeliveryLedger"]),
        // The service: webhook receiver, JSON API, dashboard, metrics (Hummingbird); no domain logic.
        .target(
            name: "LedgerServer",
            dependencies: [
                "DeliveryLedger", "LedgerIngest", "LedgerReports",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            resources: [.copy("Resources/openapi.json")]
        ),
        // The command line: ParsableCommand types and renderers, testable in-process.
        .target(
            name: "LedgerCLI",
            dependencies: [
                "DeliveryLedger", "LedgerIngest", "LedgerWorkload", "LedgerReports", "LedgerServer",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // The `ledger` program allocates with jemalloc on Linux (Debian's libjemalloc-dev): under
        // `ledger serve`'s load, glibc's malloc made the writer thread wait on the arena locks of the
        // request threads whose events it frees (README "Crash test and load": 79 k → 105–111 k
        // events/s). Only the program: a service embedding the library keeps its own allocator.
        .executableTarget(name: "ledger", dependencies: ["LedgerCLI", "DeliveryLedger"],
                          linkerSettings: [.linkedLibrary("jemalloc", .when(platforms: [.linux]))]),
        // libFuzzer target of the JSON feed readers (README "Fuzzing"; a replay program in ordinary builds).
        .executableTarget(name: "ledger-fuzz", dependencies: ["LedgerIngest"], path: "Tools/Fuzz", exclude: ["corpus", "lsan-suppressions.txt"]),
        // SIGKILLs a writing process at random moments and checks nothing acknowledged is lost.
        .executableTarget(name: "ledger-crash-test", dependencies: ["DeliveryLedger", "LedgerWorkload"], path: "Tools/CrashTest"),
        // SIGKILLs `ledger serve` while clients POST batches; checks every acknowledged batch is whole (Tools/serve-crash-test).
        .executableTarget(name: "ledger-serve-crash-test", dependencies: ["DeliveryLedger", "LedgerWorkload", "LedgerTestSupport"], path: "Tools/ServeCrashTest"),
        // Sustained webhook load on `ledger serve` with dashboard latency under it (Tools/serve-load).
        .executableTarget(name: "ledger-serve-load", dependencies: ["LedgerTestSupport"], path: "Tools/ServeLoad"),
        // Makes damaged copies of a ledger and runs every command on them (Tools/fault-injection).
        .executableTarget(name: "ledger-damage", path: "Tools/Damage"),
        .executableTarget(name: "qualify-eval", dependencies: ["LedgerIngest", "DeliveryLedger"], path: "Tools/QualifyEval"),
        // The benchmark's baselines, in C: the same events in raw LMDB (same record bytes, same index
        // writes) and in SQLite. Benchmark tooling only; the product's C interop stays in LMDBKit.
        .target(
            name: "BenchBaselines",
            path: "Tools/Bench/Baselines",
            linkerSettings: [.linkedLibrary("lmdb"), .linkedLibrary("sqlite3")]
        ),
        .executableTarget(
            name: "ledger-bench",
            dependencies: [
                "DeliveryLedger", "LedgerIngest", "LedgerWorkload", "BenchBaselines",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Tools/Bench/Runner"
        ),

        .target(name: "LedgerTestSupport", dependencies: ["DeliveryLedger"], path: "Tests/LedgerTestSupport"),
        .testTarget(name: "LMDBKitTests", dependencies: ["LMDBKit", "LedgerTestSupport"]),
        .testTarget(name: "ZstdKitTests", dependencies: ["ZstdKit"]),
        .testTarget(name: "DeliveryLedgerTests", dependencies: [
            "DeliveryLedger", "LedgerTestSupport",
            .product(name: "Crypto", package: "swift-crypto"),  // the hash chain recomputed by its definition
        ]),
        .testTarget(name: "LedgerIngestTests", dependencies: ["LedgerIngest", "DeliveryLedger", "LedgerTestSupport"]),
        .testTarget(name: "LedgerWorkloadTests", dependencies: ["LedgerWorkload", "LedgerIngest", "DeliveryLedger", "LedgerTestSupport"]),
        .testTarget(name: "LedgerCLITests", dependencies: ["LedgerCLI", "LedgerReports", "DeliveryLedger", "LedgerTestSupport"]),
        .testTarget(name: "LedgerServerTests", dependencies: [
            "LedgerServer", "LedgerCLI", "DeliveryLedger", "LedgerIngest", "LedgerTestSupport",
            // Keys the tests make and sign with (the providers' algorithms), and the loopback server
            // that stands for Amazon SNS (certificates, subscription confirmations).
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "_CryptoExtras", package: "swift-crypto"),
            .product(name: "Hummingbird", package: "hummingbird"),
            // A channel on a virtual clock, for handlers whose rules are about time.
            .product(name: "NIOEmbedded", package: "swift-nio"),
        ]),
    ],
    swiftLanguageModes: [.v6]
)

for target in package.targets where target.type != .system && target.name != "BenchBaselines" {
    var settings = target.swiftSettings ?? []
    settings.append(.enableUpcomingFeature("ExistentialAny"))
    target.swiftSettings = settings
}
