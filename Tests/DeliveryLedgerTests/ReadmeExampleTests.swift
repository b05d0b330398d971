import DeliveryLedger
import Foundation
import LedgerTestSupport
import Testing

// README-EXAMPLE-BEGIN
func recordAndRead(path: String) throws -> (successRate: Double, status: MessageStatus) {
    let ledger = try Ledger(path: path)  // a directory, created on first use
    let t = Instant(rfc3339: "2026-11-02T09:00:00Z")!
    try ledger.append([  // one atomic batch; re-appending it is a no-op
        Event(id: "inj-1", kind: .relay, delivery: "spring-sale", recipient: "ann@example.com", occurredAt: t),
        Event(id: "dlv-1", kind: .delivered, delivery: "spring-sale", recipient: "ann@example.com",
              occurredAt: t.adding(seconds: 4)),
    ])
    let efs = try ledger.kpis(delivery: "spring-sale", semantics: .efs)!
    let report = try ledger.status(delivery: "spring-sale", recipient: "ann@example.com")!
    return (efs.successRate, report.efs.status)  // (1.0, .sent)
}
// README-EXAMPLE-END

@Suite struct ReadmeExampleTests {
    @Test func theReadmeExampleRunsAndIsTheOneInTheReadme() throws {
        let dir = TemporaryDirectory()
        let (rate, status) = try recordAndRead(path: dir.path("example.lmdb"))
        #expect(rate == 1.0)
        #expect(status == .sent)

        let source = try String(contentsOfFile: #filePath, encoding: .utf8)
        let begin = try #require(source.range(of: "// README-EXAMPLE-BEGIN\n"))
        let end = try #require(source.range(of: "// README-EXAMPLE-END"))
        let snippet = String(source[begin.upperBound..<end.lowerBound])
        let readme = try String(contentsOf: Corpus.packageRoot.appendingPathComponent("README.md"), encoding: .utf8)
        #expect(readme.contains(snippet), "README.md must show the example of ReadmeExampleTests.swift verbatim")
    }
}
