import DeliveryLedger
import Foundation
import LedgerIngest
import LedgerTestSupport
import Testing

// README-INGEST-EXAMPLE-BEGIN
func ingest(file path: String, into ledger: Ledger) throws {
    let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
    let input = try FeedReader.read(Array(bytes), file: path, options: IngestOptions(format: .auto))
    try ledger.append(input.events)  // input.skipped counts opens, clicks…; input.format says what was read
}
// README-INGEST-EXAMPLE-END

/// README "Embedding the library" shows this second example verbatim (a fresh user found the one it
/// showed before used `bytes` and `ledger` without defining them).
@Suite struct ReadmeIngestExampleTests {
    @Test func theReadmeIngestExampleRunsAndIsTheOneInTheReadme() throws {
        // The java-sparkpost captured batch: 11 elements — 3 injections, 3 deliveries and 1 bounce
        // become events; 3 opens and 1 click are engagement, skipped (README "Input: SparkPost").
        let name = "sparkpost/java-sparkpost/webhook-batch-captured-2017.json"
        _ = try Corpus.bytes(name)  // fails saying so when ../shared/corpus is missing
        let file = Corpus.folder.appendingPathComponent(name).path
        let dir = TemporaryDirectory()
        let ledger = try Ledger(path: dir.path("example.lmdb"))
        try ingest(file: file, into: ledger)
        #expect(try ledger.basis().position == 7)
        try ingest(file: file, into: ledger)  // the same batch again: duplicates, nothing appended
        #expect(try ledger.basis().position == 7)

        let source = try String(contentsOfFile: #filePath, encoding: .utf8)
        let begin = try #require(source.range(of: "// README-INGEST-EXAMPLE-BEGIN\n"))
        let end = try #require(source.range(of: "// README-INGEST-EXAMPLE-END"))
        let snippet = String(source[begin.upperBound..<end.lowerBound])
        let readme = try String(contentsOf: Corpus.packageRoot.appendingPathComponent("README.md"), encoding: .utf8)
        #expect(readme.contains(snippet), "README.md must show the example of ReadmeIngestExampleTests.swift verbatim")
    }
}
