import DeliveryLedger
import Foundation
import LedgerCLI
import LedgerTestSupport
import Testing

/// Runs `ledger` in-process against a temporary database.
struct CLI {
    let directory = TemporaryDirectory("ledger-cli")
    var db: String { directory.path("ledger.lmdb") }

    @discardableResult
    func run(_ arguments: String...) -> LedgerCLI.Result {
        run(arguments)
    }

    @discardableResult
    func run(_ arguments: [String]) -> LedgerCLI.Result {
        var args = arguments
        if let first = args.first, !["demo", "generate", "qualify"].contains(first) { args.append(contentsOf: ["--db", db]) }
        return LedgerCLI.run(args)
    }

    /// Ingests canonical JSONL `lines` (one event each) from a file `name` in the test's directory.
    @discardableResult
    func ingest(_ lines: [String], file name: String = "events.jsonl") -> LedgerCLI.Result {
        run("ingest", file(name, lines.joined(separator: "\n")))
    }

    /// Writes a file in the test's directory and returns its path.
    func file(_ name: String, _ contents: String) -> String {
        let path = directory.path(name)
        _ = FileManager.default.createFile(atPath: path, contents: Data(contents.utf8))
        return path
    }

    func corpus(_ relative: String) throws -> String {
        try Corpus.folder().appendingPathComponent(relative).path
    }

    func projectJSON(_ extra: String...) throws -> [String: Any] {
        try projectJSON(extra)
    }

    func projectJSON(_ extra: [String]) throws -> [String: Any] {
        let r = run(["project", "--format", "json"] + extra)
        #expect(r.exitCode == 0, "\(r.error)")
        return try #require(try JSONSerialization.jsonObject(with: Data(r.output.utf8)) as? [String: Any])
    }

    func kpis(_ delivery: String, _ semantics: String) throws -> [String: Any] {
        let doc = try projectJSON("--both")
        let list = try #require(doc["deliveries"] as? [[String: Any]])
        return try #require(list.first { $0["delivery"] as? String == delivery && $0["semantics"] as? String == semantics })
    }

    /// The ledger's last position; 0 when no ledger was created (read commands never create one).
    func basisPosition() throws -> Int {
        guard FileManager.default.fileExists(atPath: db) else { return 0 }
        let doc = try projectJSON()
        return try #require((doc["basis"] as? [String: Any])?["position"] as? Int)
    }
}
