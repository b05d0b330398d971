@_spi(Benchmark) import DeliveryLedger
import Foundation

/// The benchmark's **reader in another process** (issue "The projection behind the log" §6): while
/// the runner's library ingest appends, a second process (this same binary, `--reader-db`) opens the
/// ledger and asks a delivery's KPIs and recipients' status in a loop, timing each answer, until the
/// stop file appears; it then writes the latencies as JSON. Its answers fold the records appended
/// after the last checkpoint (the tail) itself, in its read transactions: it never waits for the
/// writer.
enum ReaderProcess {
    struct Result: Codable {
        var kpis: [Double] = []
        var status: [Double] = []
        var firstPosition: UInt64 = 0
        var lastPosition: UInt64 = 0
    }

    static func run(db: String, delivery: String, output: String, stop: String) throws {
        var options = LedgerOptions()
        options.createIfMissing = false
        options.readOnly = true  // a reader: never a write transaction, never waits for the writer
        var ledger: Ledger?
        while ledger == nil {
            if FileManager.default.fileExists(atPath: stop) { break }
            ledger = try? Ledger(path: db, options: options)
            if ledger == nil { usleep(10_000) }
        }
        var result = Result()
        guard let ledger else { try write(result, output); return }
        result.firstPosition = try ledger.basis().position
        var recipients: [String] = []
        var refreshed = 0.0
        var rng = SystemRandomNumberGenerator()
        while !FileManager.default.fileExists(atPath: stop) {
            let now = ProcessInfo.processInfo.systemUptime
            if now - refreshed > 2 {  // not timed: a list to pick recipients from
                recipients = try ledger.recipients(delivery: delivery)
                refreshed = ProcessInfo.processInfo.systemUptime
            }
            let t0 = ProcessInfo.processInfo.systemUptime
            _ = try ledger.kpis(delivery: delivery, semantics: .efs)
            let t1 = ProcessInfo.processInfo.systemUptime
            result.kpis.append(t1 - t0)
            if let r = recipients.randomElement(using: &rng) {
                let t2 = ProcessInfo.processInfo.systemUptime
                _ = try ledger.status(delivery: delivery, recipient: r, includeEvents: false)
                result.status.append(ProcessInfo.processInfo.systemUptime - t2)
            }
            usleep(2_000)
        }
        result.lastPosition = try ledger.basis().position
        try write(result, output)
    }

    static func write(_ result: Result, _ path: String) throws {
        try JSONEncoder().encode(result).write(to: URL(fileURLWithPath: path))
    }

    /// Starts the reader process on `db`.
    static func start(db: String, delivery: String, output: String, stop: String) throws -> Process {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0])
        p.arguments = ["--reader-db", db, "--reader-delivery", delivery, "--reader-output", output, "--reader-stop", stop]
        try p.run()
        return p
    }
}
