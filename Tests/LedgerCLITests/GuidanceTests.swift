import DeliveryLedger
import Foundation
import LedgerCLI
import LedgerTestSupport
import Testing

/// What the commands say and refuse, found by a fresh user and a tester (2026-12-04).
@Suite struct GuidanceTests {
    static func lines(_ prefix: String, count: Int, minute: Int) -> [String] {
        (0..<count).map { i in
            #"{"id":"\#(prefix)\#(i)","kind":"relay","delivery":"d1","recipient":"r\#(i)@example.com","occurredAt":"2026-11-02T09:\#(String(format: "%02d", minute)):00Z"}"#
        }
    }

    /// A free-page list naming a page in use: a write would allocate that page and destroy its
    /// records (a tester's `sweep` overwrote a log page). Every writing command walks LMDB's pages
    /// first and refuses; the file is unchanged.
    @Test func writingCommandsRefuseALedgerWhoseFreePageListNamesAPageInUse() throws {
        let cli = CLI()
        #expect(cli.ingest(Self.lines("a", count: 200, minute: 0)).exitCode == 0)
        #expect(cli.ingest(Self.lines("b", count: 200, minute: 1), file: "more.jsonl").exitCode == 0)
        var file = try LMDBFile(cli.db)
        let leaf = try file.leftmostLeaf(of: "log")
        let freeRoot = Int(file.u64(file.meta(file.newest, 80))) * file.pageSize
        try #require(file.u64(file.meta(file.newest, 80)) != ~0 && file.u16(freeRoot + 10) & 0x02 != 0, "a free-page database of one leaf")
        let node = freeRoot + file.u16(freeRoot + 16)
        try #require(file.u16(node + 4) & 0x01 == 0, "its first list is inline")
        let list = node + 8 + file.u16(node + 6)
        try #require(file.u64(list) >= 1)
        file.put64(UInt64(leaf), at: list + 8)
        try file.write(cli.db)
        let before = try Data(contentsOf: URL(fileURLWithPath: cli.db + "/data.mdb"))
        for command in [["sweep", "--now", "2026-12-01T00:00:00Z"], ["reproject"], ["efs", "enable", "--at", "2026-11-01T00:00:00Z"],
                        ["ingest", cli.file("c.jsonl", Self.lines("c", count: 5, minute: 2).joined(separator: "\n"))]] {
            let r = cli.run(command)
            #expect(r.exitCode != 0 && r.error.contains("page \(leaf) (listed free) already belongs to table log"), "\(command): \(r.error)")
        }
        #expect(try Data(contentsOf: URL(fileURLWithPath: cli.db + "/data.mdb")) == before)
        // Reading commands walk the pages too (a file this small is far under the 256 MiB bound): damage
        // LMDB does not check would otherwise have them answer from a tree that skips records, with
        // exit status 0 (a tester's quarantine list missed addresses). verify lists the problem itself.
        for command in [["project"], ["status", "r1@example.com"], ["history", "r1@example.com"], ["address", "r1@example.com"],
                        ["quarantine"], ["audit", "--delivery", "d1"], ["timeline", "--delivery", "d1"], ["backup", "--to", "-"]] {
            let r = cli.run(command)
            #expect(r.exitCode != 0 && r.error.contains("page \(leaf) (listed free) already belongs to table log"), "\(command): \(r.error)")
        }
        let verify = cli.run("verify")
        #expect(verify.exitCode != 0 && (verify.output + verify.error).contains("page \(leaf) (listed free) already belongs to table log"))
    }

    @Test func messagesSayWhatToDo() throws {
        let cli = CLI()
        // repair where there is no ledger: the same words as every other command.
        #expect(cli.run("repair", "--dry-run").error.contains("no ledger there"))
        #expect(cli.ingest(Self.lines("a", count: 3, minute: 0)).exitCode == 0)
        // --known-at before the first record: when that record was recorded, and what --known-at bounds.
        let early = cli.run("project", "--known-at", "2001-01-01T00:00:00Z")
        #expect(early.output.contains("No delivery was recorded yet at that instant. The log's first record was recorded at"), "\(early.output)")
        // A bad record stops the run: --skip-invalid is named.
        let bad = cli.run("ingest", cli.file("bad.jsonl", Self.lines("x", count: 1, minute: 0)[0] + "\n{\"id\":1}\n"))
        #expect(bad.exitCode != 0 && bad.error.contains("With --skip-invalid, the other records are appended"), "\(bad.error)")
        // A line over 1 MiB stops the run even with --skip-invalid: the option is not named.
        let huge = #"{"id":"h1","kind":"relay","delivery":"d1","recipient":"h@example.com","occurredAt":"2026-11-02T09:00:00Z","label":""#
            + String(repeating: "x", count: 1 << 21) + "\"}\n"
        let long = cli.run("ingest", cli.file("huge.jsonl", huge))
        #expect(long.exitCode != 0 && long.error.contains("longer than 1 MiB") && !long.error.contains("--skip-invalid"), "\(long.error.prefix(300))")
        // JSON of no known format: the SparkPost reading was a guess, and --format is named.
        let unknown = cli.run("ingest", cli.file("unknown.json", "{\"hello\": [1, 2]}"))
        #expect(unknown.exitCode != 0 && unknown.error.contains("its format was not recognised"), "\(unknown.error)")
        // An id reused with other content: what to do.
        let conflict = cli.run("ingest", cli.file("conflict.jsonl",
            #"{"id":"a0","kind":"relay","delivery":"d1","recipient":"r0@example.com","occurredAt":"2026-11-02T09:30:00Z"}"#))
        #expect(conflict.exitCode != 0 && conflict.error.contains("--delivery-key"), "\(conflict.error)")
    }
}

/// `--rules`, else `$LEDGER_RULES` (non-empty), else the built-in table: a table of one's own is set
/// once for every command (found by a fresh user: an ingest without `--rules` re-projected back).
@Test func theRuleTableComesFromTheOptionElseTheEnvironment() throws {
    let plain = try DatabaseOptions.parse([])
    #expect(plain.rulesPath(environment: [:]) == nil)
    #expect(plain.rulesPath(environment: ["LEDGER_RULES": ""]) == nil)
    #expect(plain.rulesPath(environment: ["LEDGER_RULES": "/etc/ledger/rules.json"]) == "/etc/ledger/rules.json")
    let given = try DatabaseOptions.parse(["--rules", "mine.json"])
    #expect(given.rulesPath(environment: ["LEDGER_RULES": "/etc/ledger/rules.json"]) == "mine.json")
}
