import DeliveryLedger
import Foundation

/// A fresh temporary directory per test (tests run in parallel in one process), removed on deinit.
public final class TemporaryDirectory: @unchecked Sendable {
    // Invariant: `url` is immutable after init.
    public let url: URL

    public init(_ name: String = "ledger-test") {
        url = FileManager.default.temporaryDirectory
            .appendingPathComponent("\(name)-\(UUID().uuidString)", isDirectory: true)
        try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    /// A path inside the directory.
    public func path(_ component: String) -> String { url.appendingPathComponent(component).path }

    deinit { try? FileManager.default.removeItem(at: url) }
}

/// A ledger in its own temporary directory, not durable (tests), with a controllable clock.
public struct TestLedger: Sendable {
    public let directory: TemporaryDirectory
    public let ledger: Ledger
    public let clock: TestClock

    /// A ledger in a fresh temporary directory, not durable, with a ``TestClock`` starting at `start`;
    /// `options` supplies any other setting (its clock and durability are replaced).
    public init(start: Instant = Instant(secondsSinceEpoch: 1_800_000_000), initialMapSize: Int? = nil,
                options base: LedgerOptions = LedgerOptions()) throws {
        directory = TemporaryDirectory()
        clock = TestClock(start)
        var options = base
        options.durable = false
        if let initialMapSize { options.initialMapSize = initialMapSize }
        let clock = self.clock
        options.clock = { clock.now }
        ledger = try Ledger(path: directory.path("ledger.lmdb"), options: options)
    }
}

/// A clock for transaction time that tests advance by hand.
public final class TestClock: @unchecked Sendable {
    // Invariant: `value` is only touched under `lock`.
    private let lock = NSLock()
    private var value: Instant
    public init(_ start: Instant) { value = start }
    public var now: Instant { lock.withLock { value } }
    public func advance(seconds: Int64) { lock.withLock { value = value.adding(seconds: seconds) } }
    public func set(_ instant: Instant) { lock.withLock { value = instant } }
}

/// Where the shared corpus lives: `../shared/corpus` relative to the package root.
public enum Corpus {
    /// The package root, found from this file's path.
    public static var packageRoot: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }

    /// The corpus folder, or an error saying it is missing.
    public static func folder() throws -> URL {
        let url = packageRoot.deletingLastPathComponent().appendingPathComponent("shared/corpus", isDirectory: true)
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw CorpusMissing(path: url.path)
        }
        return url
    }

    /// The bytes of a corpus file, e.g. `sparkpost/anymail/bounce_event.json`.
    public static func bytes(_ relative: String) throws -> [UInt8] {
        let url = try folder().appendingPathComponent(relative)
        return Array(try Data(contentsOf: url))
    }

    public struct CorpusMissing: Error, CustomStringConvertible {
        public var path: String
        public var description: String { "the shared corpus folder is missing: expected it at \(path) (../shared/corpus beside the package)" }
    }
}
