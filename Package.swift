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
        // The library users embed: model, codec, store, projections, qualification.
        .target(
            name: "DeliveryLedger",
            dependencies: [
                "LMDBKit",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto"),
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
        // The command line: ParsableCommand types and renderers, testable in-process.
        .target(
            name: "LedgerCLI",
            dependencies: [
                "DeliveryLedger", "LedgerIngest", "LedgerWorkload",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .executableTarget(name: "ledger", dependencies: ["LedgerCLI", "DeliveryLedger"]),
        // libFuzzer target of the JSON feed readers (README "Fuzzing"; a replay program in ordinary builds).
        .executableTarget(name: "ledger-fuzz", dependencies: ["LedgerIngest"], path: "Tools/Fuzz", exclude: ["corpus"]),
        // SIGKILLs a writing process at random moments and checks nothing acknowledged is lost.
        .executableTarget(name: "ledger-crash-test", dependencies: ["DeliveryLedger", "LedgerWorkload"], path: "Tools/CrashTest"),
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
        .testTarget(name: "DeliveryLedgerTests", dependencies: ["DeliveryLedger", "LedgerTestSupport"]),
        .testTarget(name: "LedgerIngestTests", dependencies: ["LedgerIngest", "DeliveryLedger", "LedgerTestSupport"]),
        .testTarget(name: "LedgerWorkloadTests", dependencies: ["LedgerWorkload", "LedgerIngest", "DeliveryLedger", "LedgerTestSupport"]),
        .testTarget(name: "LedgerCLITests", dependencies: ["LedgerCLI", "DeliveryLedger", "LedgerTestSupport"]),
    ],
    swiftLanguageModes: [.v6]
)

for target in package.targets where target.type != .system && target.name != "BenchBaselines" {
    var settings = target.swiftSettings ?? []
    settings.append(.enableUpcomingFeature("ExistentialAny"))
    target.swiftSettings = settings
}
