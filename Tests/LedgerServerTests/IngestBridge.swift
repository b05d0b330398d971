import DeliveryLedger
import LedgerIngest

/// The reader `ledger ingest` and the service use, for tests that count what a batch holds.
enum LedgerIngestBridge {
    static func read(_ body: [UInt8]) throws -> [Event] {
        try FeedReader.read(body, file: "batch", options: IngestOptions(format: .sparkpost)).events
    }
}
