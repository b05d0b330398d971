@testable import DeliveryLedger
import Foundation
import LedgerCLI
import LedgerReports
import LedgerTestSupport
import LMDBKit
import Testing

/// Issue 10 (readers never wait; read-only files) and issue 12 (full disk named, empty inputs,
/// backups) through the command line.
@Suite struct ReliabilityCLITests {
    static func line(_ id: String, _ kind: String, _ recipient: String, minute: Int) -> String {
        "{\"id\":\"\(id)\",\"kind\":\"\(kind)\",\"delivery\":\"d1\",\"recipient\":\"\(recipient)\",\"occurredAt\":\"2026-11-02T09:\(String(format: "%02d", minute)):00Z\"}"
    }

    static let sample = [line("r1", "relay", "a@example.com", minute: 0), line("d1", "delivered", "a@example.com", minute: 1),
                         line("r2", "relay", "b@example.com", minute: 0), line("b1", "bounce", "b@example.com", minute: 2)
                            .replacingOccurrences(of: "}", with: ",\"bounceClass\":10}")]

    /// A copy of `cli`'s ledger named `name` in its directory, changed by `damage` in one write
    /// transaction on table `table` (on a copy: this process may hold the original open, and LMDB
    /// allows one environment per file in a process).
    static func damagedCopy(of cli: CLI, named name: String, table: String,
                            _ damage: (borrowing Transaction, Database) throws -> Void) throws -> String {
        let copy = cli.directory.path(name)
        try FileManager.default.copyItem(atPath: cli.db, toPath: copy)
        let env = try Environment(path: copy)
        let database = try env.openDatabase(named: table, flags: [])
        try env.write { txn in try damage(txn, database) }
        return copy
    }

    /// A new temporary directory (removed by the caller) for tests that run the `ledger` executable.
    static func scratchDirectory(_ prefix: String) throws -> URL {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("\(prefix)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        return directory
    }

    /// Runs `command` with bash; its exit status, or 128 + the signal that ended it.
    static func bash(_ command: String) throws -> Int32 {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/bash")
        p.arguments = ["-c", command]
        try p.run()
        p.waitUntilExit()
        return p.terminationReason == .exit ? p.terminationStatus : 128 + p.terminationStatus
    }

    /// A first ingest into a new path that appends nothing (a conflict within its batch) leaves no
    /// empty ledger behind: the path does not exist afterwards, and a later command says so. An
    /// existing ledger is never removed by a failed ingest.
    @Test func aFailedFirstIngestLeavesNoEmptyLedger() throws {
        let cli = CLI()
        let conflicting = [Self.line("r1", "relay", "a@example.com", minute: 0), Self.line("r1", "relay", "a@example.com", minute: 5)]
        let r = cli.ingest(conflicting)
        #expect(r.exitCode != 0 && r.error.contains("different content"), "\(r.error)")
        #expect(!FileManager.default.fileExists(atPath: cli.db))
        #expect(cli.run("project").exitCode != 0)
        #expect(!FileManager.default.fileExists(atPath: cli.db))
        // Into an existing ledger, the same failure keeps it and what it holds.
        #expect(cli.ingest(Self.sample).exitCode == 0)
        #expect(cli.ingest(conflicting).exitCode != 0)
        #expect(cli.run("verify").output.contains("Records: 4;"))
    }

    /// `history --format json --raw` gives back each event's raw source bytes exactly as ingested
    /// (here the JSON lines, as text), valid against the history schema; without `--raw` there are none.
    @Test func historyGivesBackTheRawSourceBytes() throws {
        let cli = CLI()
        #expect(cli.ingest(Self.sample).exitCode == 0)
        let r = cli.run("history", "b@example.com", "--format", "json", "--raw")
        #expect(r.exitCode == 0, "\(r.error)")
        #expect(try SchemaValidation.validate(jsonLines: Array(r.output.utf8), schemaNamed: "history") == [])
        let doc = try JSONSerialization.jsonObject(with: Data(r.output.utf8)) as! [String: Any]
        let raws = (doc["history"] as! [[String: Any]]).map { ($0["event"] as! [String: Any])["raw"] as? String }
        #expect(raws == [Self.sample[2], Self.sample[3]])
        #expect(!cli.run("history", "b@example.com", "--format", "json").output.contains("\"raw\""))
        #expect(cli.run("history", "b@example.com", "--raw").exitCode != 0)  // a table has no place for them
    }

    /// The commands that only read, with their arguments.
    static let readCommands: [[String]] = [
        ["project"], ["project", "--format", "json"], ["status", "--delivery", "d1", "a@example.com"],
        ["history", "a@example.com"], ["address", "a@example.com"], ["quarantine"], ["audit", "--delivery", "d1"],
        ["timeline", "--delivery", "d1"], ["verify"], ["efs", "history"],
    ]

    /// On a read-only mount (the files and the directory cannot be written, whoever asks, root
    /// included), every read command answers; ingest says why it cannot write. The lock file is
    /// absent, as on a copy: LMDB reads without locks on a read-only file system.
    @Test(.enabled(if: ScratchMount.isAvailable, "mounting a tmpfs is not allowed here: the read-only-files test needs it"))
    func everyReadCommandWorksOnReadOnlyFiles() throws {
        let cli = CLI()
        #expect(cli.ingest(Self.sample).exitCode == 0)
        let mount = try ScratchMount(bytes: 8 << 20)
        let db = mount.path + "/ledger.lmdb"
        try FileManager.default.copyItem(atPath: cli.db, toPath: db)
        try FileManager.default.removeItem(atPath: db + "/lock.mdb")
        try mount.remount(readOnly: true)
        for command in Self.readCommands {
            let r = LedgerCLI.run(command + ["--db", db])
            #expect(r.exitCode == 0, "\(command): \(r.error)")
        }
        let ingest = LedgerCLI.run(["ingest", "--db", db, cli.file("more.jsonl", Self.line("r3", "relay", "c@example.com", minute: 3))])
        #expect(ingest.exitCode != 0 && ingest.error.contains("Read-only file system"), "\(ingest.error)")
    }

    /// A reader in another process answers at once while this process holds a write transaction
    /// open (LMDB readers never wait for the writer; nothing in a read command begins a write).
    @Test func aReaderInAnotherProcessAnswersWhileAWriteTransactionIsOpen() throws {
        let cli = CLI()
        #expect(cli.ingest(Self.sample).exitCode == 0)
        var options = LedgerOptions()
        options.createIfMissing = false
        let ledger = try Ledger(path: cli.db, options: options)
        let answers = try ledger.environment.write { _ in
            try Self.readCommands.map { try LedgerExecutable.run($0 + ["--db", cli.db]) }
        }
        for (command, r) in zip(Self.readCommands, answers) {
            #expect(r.status == 0 && r.seconds < 20, "\(command): \(r.status) \(r.error)")
        }
        #expect(answers[0].output.contains("Delivery d1"))
    }

    /// `ledger … | head`: the reader leaves the pipe early and the next write meets EPIPE. The
    /// command ends quietly with status 0 — never by SIGPIPE, and without an error for what the user
    /// asked (a fresh user saw "Error: cannot write to standard output: Broken pipe").
    @Test func aReaderThatLeavesThePipeEndsTheReportQuietly() throws {
        let ledger = try LedgerExecutable.path()
        let directory = try Self.scratchDirectory("pipe")
        defer { try? FileManager.default.removeItem(at: directory) }
        let errors = directory.appendingPathComponent("stderr").path
        // 3,000 recipients: several times a pipe's 64 KiB buffer, so the writes meet the closed pipe.
        let status = try Self.bash("set -o pipefail; '\(ledger)' generate --recipients 3000 --output - 2>'\(errors)' | head -c 1 >/dev/null")
        #expect(status == 0, "status \(status)")
        #expect(try String(contentsOfFile: errors, encoding: .utf8) == "")
    }

    /// `project --as-of` an instant before the delivery's first event: the delivery is known, but no
    /// message of it existed then. Success % (success / to deliver, domain.md §6) is undefined with
    /// nothing to deliver: "—", and a line says why the counts are zero (a fresh user read "0.0 %").
    @Test func asOfBeforeTheFirstEventSaysSoInsteadOfZeroPercent() throws {
        let cli = CLI()
        #expect(cli.ingest(Self.sample).exitCode == 0)
        let before = cli.run("project", "--both", "--as-of", "2026-11-01T00:00:00Z")
        #expect(before.exitCode == 0, "\(before.error)")
        #expect(before.output.contains("No message of this delivery at these bounds: none of its events had occurred by then."), "\(before.output)")
        let success = before.output.split(separator: "\n").first { $0.hasPrefix("  Success") }.map(String.init) ?? ""
        #expect(success.hasSuffix("—") && !success.contains("%"), "\(success)")
        // At 09:01 a@ is delivered and b@ relayed: Success 1/2 classic (both Sent), 1/2 EFS.
        let later = cli.run("project", "--both", "--as-of", "2026-11-02T09:01:00Z")
        #expect(!later.output.contains("No message of this delivery"), "\(later.output)")
        #expect(later.output.split(separator: "\n").contains { $0.hasPrefix("  Success") && $0.contains("100.0 %") && $0.contains("50.0 %") }, "\(later.output)")
    }

    /// The heading of `project` at past bounds shows the delivery's label as declared then (by the
    /// events those bounds select), not a label declared later (a fresh user saw the later one).
    @Test func aPastProjectionShowsTheLabelDeclaredThen() throws {
        let cli = CLI()
        let first = #"{"id":"decl1","kind":"delivery","delivery":"d1","occurredAt":"2026-11-02T08:00:00Z","toDeliver":2,"label":"Spring sale"}"#
        let second = #"{"id":"decl2","kind":"delivery","delivery":"d1","occurredAt":"2026-11-02T10:00:00Z","label":"Spring sale (resent)"}"#
        #expect(cli.ingest([first] + Self.sample, file: "first.jsonl").exitCode == 0)
        Thread.sleep(forTimeInterval: 0.05)
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        let between = formatter.string(from: Date())
        Thread.sleep(forTimeInterval: 0.05)
        #expect(cli.ingest([second], file: "second.jsonl").exitCode == 0)
        #expect(cli.run("project").output.contains("Delivery d1 — Spring sale (resent)"))
        let asOf = cli.run("project", "--as-of", "2026-11-02T09:00:00Z").output
        #expect(asOf.contains("Delivery d1 — Spring sale\n"), "\(asOf)")
        let knownAt = cli.run("project", "--known-at", between).output
        #expect(knownAt.contains("Delivery d1 — Spring sale\n"), "\(knownAt)")
        let both = cli.run("project", "--as-of", "2026-11-02T11:00:00Z").output
        #expect(both.contains("Delivery d1 — Spring sale (resent)"), "\(both)")
    }

    /// `--reject-file` naming an input under another name — a hard link, or `/dev/stdin` when
    /// standard input is the file — is refused before anything is written (it truncated the input).
    @Test func aRejectFileThatIsAnInputUnderAnotherNameIsRefused() throws {
        let ledger = try LedgerExecutable.path()
        let directory = try Self.scratchDirectory("rejects")
        defer { try? FileManager.default.removeItem(at: directory) }
        let input = directory.appendingPathComponent("in.jsonl").path
        let text = Self.sample.joined(separator: "\n") + "\n"
        try text.write(toFile: input, atomically: true, encoding: .utf8)
        let link = directory.appendingPathComponent("link.jsonl").path
        try FileManager.default.linkItem(atPath: input, toPath: link)
        let db = directory.appendingPathComponent("db").path
        for command in ["'\(ledger)' ingest --db '\(db)' --skip-invalid --reject-file '\(link)' '\(input)'",
                        "'\(ledger)' ingest --db '\(db)' --skip-invalid --reject-file /dev/stdin - < '\(input)'"] {
            #expect(try Self.bash(command + " 2>/dev/null") != 0, "\(command)")
            #expect(try String(contentsOfFile: input, encoding: .utf8) == text, "\(command)")
        }
        #expect(!FileManager.default.fileExists(atPath: db))
    }

    /// A reject file that is a pipe (`--reject-file >(cat > f)`, `/dev/stdout | …`) cannot be
    /// truncated to reopen its SparkPost array: the array is closed once, at the end, and the file
    /// read from the pipe is one valid JSON array (the ingest failed with "Nothing was appended"
    /// although it had appended).
    @Test func aRejectFileThatIsAPipeHoldsOneJSONArray() throws {
        let ledger = try LedgerExecutable.path()
        let directory = try Self.scratchDirectory("reject-pipe")
        defer { try? FileManager.default.removeItem(at: directory) }
        func element(_ n: Int) -> String {
            #"{"msys":{"message_event":{"type":"delivery","event_id":"E\#(n)","campaign_id":"C","rcpt_to":"a\#(n)@b.example","timestamp":"1454442600"}}}"#
        }
        // Two good elements and one whose timestamp is no time: one rejected record at the read.
        let input = directory.appendingPathComponent("bad.json").path
        let bad = element(3).replacingOccurrences(of: "1454442600", with: "not a time")
        try ("[" + element(1) + "," + bad + "," + element(2) + "]").write(toFile: input, atomically: true, encoding: .utf8)
        // The ledger already holds E2 at another time: a conflict found at append, after the read's
        // rejects were written — the array must take one more record.
        let earlier = directory.appendingPathComponent("earlier.json").path
        try ("[" + element(2).replacingOccurrences(of: "1454442600", with: "1454442660") + "]").write(toFile: earlier, atomically: true, encoding: .utf8)
        #expect(try LedgerExecutable.run(["ingest", "--db", directory.path + "/db", earlier]).status == 0)
        let rejects = directory.appendingPathComponent("rejects.json").path
        #expect(try Self.bash("'\(ledger)' ingest --db '\(directory.path)/db' --skip-invalid --reject-file >(cat > '\(rejects)') '\(input)' >/dev/null; s=$?; sleep 0.5; exit $s") == 0)
        let written = try Data(contentsOf: URL(fileURLWithPath: rejects))
        let array = try #require(try JSONSerialization.jsonObject(with: written, options: [.fragmentsAllowed]) as? [Any], "\(String(decoding: written, as: UTF8.self))")
        #expect(array.count == 2)
    }

    @Test func anEmptyInputIsAnErrorUnlessAllowed() throws {
        let cli = CLI()
        let empty = cli.file("empty.jsonl", "")
        let r = cli.run("ingest", empty)
        #expect(r.exitCode != 0 && r.error.contains("no events in \(empty)"), "\(r.error)")
        #expect(!FileManager.default.fileExists(atPath: cli.db), "an empty input created a ledger")
        #expect(cli.run("ingest", "--allow-empty", empty).exitCode == 0)
        let eml = cli.file("bounce.eml", "")
        let r2 = cli.run("ingest", "--delivery", "d1", eml)
        #expect(r2.exitCode != 0 && r2.error.contains(eml), "\(r2.error)")
    }

    /// A file none of whose records reads as the format asked for is the wrong input (an error, no
    /// ledger created), not a quiet day; --allow-empty accepts it.
    @Test func aFileOfOnlyUnparsableRecordsIsAnError() throws {
        let cli = CLI()
        let json = cli.file("events.json", #"[{"msys":{"message_event":{"type":"bounce"}}}]"# + "\n")
        let r = cli.run("ingest", "--format", "postfix", "--delivery", "d1", json)
        #expect(r.exitCode != 0 && r.error.contains("no postfix record in \(json)") && r.error.contains("unparsable"), "\(r.error)")
        #expect(!FileManager.default.fileExists(atPath: cli.db), "a wrong-format input created a ledger")
        #expect(cli.run("ingest", "--format", "postfix", "--delivery", "d1", "--allow-empty", json).exitCode == 0)
    }

    /// --skip-invalid says why each rejected record was rejected (the first ten), not only how many.
    @Test func skippedInvalidRecordsShowTheirErrors() throws {
        let cli = CLI()
        let good = #"{"id":"r1","kind":"relay","delivery":"d1","recipient":"a@example.com","occurredAt":"2026-11-02T09:00:00Z"}"#
        let bad = #"{"id":"r2","kind":"relay","delivery":"d1","recipient":"b@example.com","occurredAt":"2026-11-02T09:00:00Z",}"#
        let file = cli.file("mixed.jsonl", good + "\n" + bad + "\n")
        let r = cli.run("ingest", "--skip-invalid", file)
        #expect(r.exitCode == 0, "\(r.error)")
        #expect(r.output.contains("Rejected: \(file): line 2"), "\(r.output)")
    }

    /// `efs enable` on a path that holds no ledger (a typo) refuses, and creates nothing.
    @Test func efsEnableDoesNotCreateALedger() throws {
        let cli = CLI()
        let r = cli.run("efs", "enable")
        #expect(r.exitCode != 0 && r.error.contains("no ledger there"), "\(r.error)")
        #expect(!FileManager.default.fileExists(atPath: cli.db))
    }

    @Test func backupCommandWritesAVerifiedCopyWithTheSameKPIs() throws {
        let cli = CLI()
        #expect(cli.ingest(Self.sample).exitCode == 0)
        let dest = cli.directory.path("backup")
        let r = cli.run("backup", dest)
        #expect(r.exitCode == 0 && r.output.contains("up to position 4") && r.output.contains("verified"), "\(r.error)")
        let source = cli.run("project", "--format", "json", "--both").output
        let copy = LedgerCLI.run(["project", "--format", "json", "--both", "--db", dest]).output
        #expect(!source.isEmpty && source == copy)
        #expect(cli.run("backup", dest).error.contains("exists"))
        #expect(cli.run("backup").exitCode != 0)
        // A missing parent is named (it said "its directory cannot be made", found by a fresh user).
        let missing = cli.directory.path("nope/deeper")
        #expect(cli.run("backup", missing + "/b").error.contains("the directory it goes in, \(missing), does not exist (create it first)"))
    }

    /// A log record whose bytes changed (a recipient's first letter, as a tester's flipped byte did):
    /// `reproject` and `efs` refuse and write nothing, as `ingest` and `sweep` do — a projection
    /// folded from it showed a phantom recipient, exit 0 — while `reproject` still mends damage in
    /// the projection alone (``verifySendsToRepairOrABackupAndRepairMendsAMetaPage()``).
    @Test func reprojectAndEFSRefuseADamagedLog() throws {
        let cli = CLI()
        #expect(cli.ingest(Self.sample).exitCode == 0)
        let copy = try Self.damagedCopy(of: cli, named: "damaged-log.lmdb", table: "log") { txn, log in
            let key = Key.u64(3)  // r2, the relay of b@example.com
            var record = try #require(try txn.get(log, key: key))
            let at = try #require(record.firstIndex(of: UInt8(ascii: "b")))
            record[at] = UInt8(ascii: "X")
            try txn.put(log, key: key, value: record)
        }
        let before = LedgerCLI.run(["project", "--format", "json", "--both", "--db", copy]).output
        let reproject = LedgerCLI.run(["reproject", "--db", copy])
        #expect(reproject.exitCode == 1 && reproject.error.contains("hash chain") && reproject.error.contains("the check reproject runs first"), "\(reproject.error)")
        let efs = LedgerCLI.run(["efs", "enable", "--db", copy])
        #expect(efs.exitCode == 1 && efs.error.contains("the check efs runs before it appends"), "\(efs.error)")
        #expect(LedgerCLI.run(["efs", "history", "--db", copy]).output.contains("never set"))
        #expect(LedgerCLI.run(["project", "--format", "json", "--both", "--db", copy]).output == before)
        #expect(LedgerCLI.run(["reproject", "--no-verify", "--db", copy]).exitCode == 0)
    }

    /// `demo --db` leaves its projection written, as `ingest` does: the checkpoint is the log's last
    /// position (its projection tables were empty, and every read folded the whole log again).
    @Test func aKeptDemoLedgerHasItsProjectionWritten() throws {
        let directory = try Self.scratchDirectory("demo-checkpoint")
        defer { try? FileManager.default.removeItem(at: directory) }
        let db = directory.appendingPathComponent("demo.lmdb").path
        #expect(LedgerCLI.run(["demo", "--db", db, "--recipients", "200"]).exitCode == 0)
        let env = try Environment(path: db)
        let meta = try env.openDatabase(named: "meta", flags: [])
        let log = try env.openDatabase(named: "log", flags: [])
        let (checkpoint, last) = try env.read { txn in
            (try txn.get(meta, key: Tables.checkpointKey).map { $0.withUnsafeBytes { Key.readU64($0) } },
             try txn.last(log).map { $0.key.withUnsafeBytes { Key.readU64($0) } })
        }
        #expect(checkpoint != nil && checkpoint == last, "checkpoint \(String(describing: checkpoint)), last position \(String(describing: last))")
    }

    /// A backup is refused inside the ledger's own directory (it goes with the ledger), however the
    /// path is spelled; beside it is fine.
    @Test func aBackupInsideTheLedgersDirectoryIsRefused() throws {
        let cli = CLI()
        #expect(cli.ingest(Self.sample).exitCode == 0)
        for inside in [cli.db + "/inner", cli.db + "/./a/../inner2"] {
            let r = cli.run("backup", inside)
            #expect(r.exitCode == 1 && r.error.contains("inside the ledger's directory"), "\(inside): \(r.error)")
            #expect(!FileManager.default.fileExists(atPath: inside))
        }
        #expect(cli.run("backup", cli.db + "/../beside").exitCode == 0)
    }

    /// `verify` on a ledger whose LMDB structure is damaged says what it found and the way out —
    /// `ledger repair` for one damaged meta page, a backup for both — not, as every other command
    /// says, "run `ledger verify`" (found by a fresh user: verify sent to itself). `repair` mends one
    /// meta page from the other: the same KPIs as before, and verify passes.
    @Test func verifySendsToRepairOrABackupAndRepairMendsAMetaPage() throws {
        let cli = CLI()
        #expect(cli.ingest(Self.sample).exitCode == 0)
        let before = cli.run("project", "--format", "json", "--both").output
        func overwrite(at offset: UInt64) throws {
            let file = try FileHandle(forUpdating: URL(fileURLWithPath: cli.db + "/data.mdb"))
            try file.seek(toOffset: offset)  // LMDB's magic number of a meta page (after the 16-byte page header)
            try file.write(contentsOf: Data([0xFF, 0xFE, 0xFD, 0xFC]))
            try file.close()
        }
        try overwrite(at: 16)
        let r = cli.run("verify")
        #expect(r.exitCode == 1, "\(r.error)")
        #expect(r.error.contains("meta page 0 has no LMDB magic number"), "\(r.error)")
        #expect(r.error.contains("run `ledger repair --db \(cli.db)`"), "\(r.error)")
        #expect(!r.error.contains("`ledger verify"), "\(r.error)")
        #expect(cli.run("project").error.contains("`ledger repair --db \(cli.db)` mends it"))  // every command says so

        let dry = cli.run("repair", "--dry-run")
        #expect(dry.exitCode == 0 && dry.output.contains("nothing was written"), "\(dry.output)\(dry.error)")
        #expect(cli.run("project").exitCode != 0)
        let repair = cli.run("repair")
        #expect(repair.exitCode == 0, "\(repair.error)")
        #expect(repair.output.contains("mended from meta page 1") && repair.output.contains("OK:"), "\(repair.output)")
        #expect(cli.run("project", "--format", "json", "--both").output == before)
        #expect(cli.run("verify").exitCode == 0)
        #expect(cli.run("repair").output.contains("nothing to mend"))
        // Sound meta pages, a damaged projection: repair says so and where to go (it exited 0 without
        // verifying, a tester found), and reproject mends it. (On a copy: this process may hold the
        // original open, and LMDB allows one environment per file in a process.)
        let copy = try Self.damagedCopy(of: cli, named: "damaged.lmdb", table: "currentCounters") { txn, counters in
            var first: [UInt8]?
            try txn.scan(counters) { k, _ in first = Array(k); return false }
            try txn.put(counters, key: try #require(first), value: [0x01, 0x02, 0x03])
        }
        let elsewhere = LedgerCLI.run(["repair", "--db", copy])
        #expect(elsewhere.exitCode == 1 && elsewhere.output.contains("nothing to mend there")
                && elsewhere.error.contains("damaged elsewhere") && elsewhere.error.contains("`ledger reproject --db \(copy)`"),
                "\(elsewhere.output)\(elsewhere.error)")
        #expect(LedgerCLI.run(["reproject", "--db", copy]).exitCode == 0)
        #expect(LedgerCLI.run(["repair", "--db", copy]).exitCode == 0)

        // Both meta pages damaged: a backup's job, said by verify and by repair; nothing written.
        try overwrite(at: 16)
        try overwrite(at: UInt64(sysconf(Int32(_SC_PAGESIZE))) + 16)
        let both = cli.run("verify")
        #expect(both.exitCode == 1 && both.error.contains("restore the ledger from a backup") && !both.error.contains("`ledger verify"), "\(both.error)")
        let refused = cli.run("repair")
        #expect(refused.exitCode == 1 && refused.error.contains("both meta pages are damaged"), "\(refused.error)")
    }

    /// A full file system is named as such; nothing is appended; the ledger verifies; once space
    /// is freed the same ingest works.
    @Test(.enabled(if: ScratchMount.isAvailable, "mounting a tmpfs is not allowed here: the full-disk test needs it"))
    func aFullDiskIsNamedAndTheNextIngestWorksOnceThereIsSpace() throws {
        let cli = CLI()
        let mount = try ScratchMount(bytes: 1 << 20)
        let db = mount.path + "/ledger.lmdb"
        #expect(LedgerCLI.run(["ingest", "--db", db, cli.file("a.jsonl", Self.sample.joined(separator: "\n"))]).exitCode == 0)
        // Far more than 1 MiB of events.
        let lines = (0..<20_000).map { i in
            Self.line("big-\(i)", "relay", "recipient-\(i)-with-a-long-local-part@example.com", minute: i % 60)
        }
        let big = cli.file("big.jsonl", lines.joined(separator: "\n"))
        let full = LedgerCLI.run(["ingest", "--db", db, big])
        #expect(full.exitCode != 0)
        #expect(full.error.contains("full") && full.error.contains(db) && full.error.contains("nothing was written"), "\(full.error)")
        let after = LedgerCLI.run(["verify", "--db", db])
        #expect(after.exitCode == 0 && after.output.contains("Records: 4;"), "\(after.output) \(after.error)")
        try mount.resize(bytes: 64 << 20)
        let again = LedgerCLI.run(["ingest", "--db", db, big])
        #expect(again.exitCode == 0 && again.output.contains("Appended 20000 events"), "\(again.error)")
        #expect(LedgerCLI.run(["verify", "--db", db]).exitCode == 0)
    }
}

@Suite struct OnceReadableInputCLITests {
    /// An input larger than one atomic batch is read twice (checked whole, then appended in
    /// batches). A FIFO — what a shell's `ledger ingest <(zcat feed.json.gz)` gives — can be read only
    /// once: it is kept for the second pass as standard input is, so every event is appended (it
    /// used to say "Appended 0 events" with status 0, found by a tester).
    @Test func aFIFOLargerThanOneBatchIsAppendedWhole() throws {
        let cli = CLI()
        let count = 50_001
        var text = ""
        text.reserveCapacity(count * 120)
        for i in 0..<count {
            text += #"{"id":"r\#(i)","kind":"relay","delivery":"d1","recipient":"a\#(i)@example.com","occurredAt":"2026-11-02T09:00:00Z"}"#
            text += "\n"
        }
        let fifo = cli.directory.path("feed.fifo")
        #expect(mkfifo(fifo, 0o600) == 0)
        let bytes = Array(text.utf8)
        let writer = Thread {
            let fd = open(fifo, O_WRONLY)
            guard fd >= 0 else { return }
            var done = 0
            while done < bytes.count {
                let n = bytes[done...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
                if n <= 0 { break }
                done += n
            }
            close(fd)
        }
        writer.start()
        let r = cli.run("ingest", fifo)
        #expect(r.exitCode == 0, "\(r.error)")
        #expect(r.output.contains("Appended \(count) events"), "\(r.output)")
        #expect(try cli.basisPosition() == count)
    }

    /// Standard input can be read once: `-` named twice is a usage error, not "no events in -".
    @Test func standardInputNamedTwiceIsRefused() {
        let cli = CLI()
        let r = cli.run("ingest", "-", "-")
        #expect(r.exitCode == 64, "\(r.error)")
        #expect(r.error.contains("more than once"), "\(r.error)")
    }
}

@Suite struct DirectoryInputCLITests {
    /// A directory stands for its `.eml` files; a feed put beside them is not read, and the output
    /// says so by name instead of dropping it silently.
    @Test func filesThatAreNotBounceMessagesAreNamed() throws {
        let cli = CLI()
        let folder = cli.directory.path("bounces")
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let dsn = """
            From: MAILER-DAEMON@mx.example.net
            Date: Mon, 2 Nov 2026 10:00:00 +0000
            Content-Type: multipart/report; report-type=delivery-status; boundary="XX"

            --XX
            Content-Type: message/delivery-status

            Reporting-MTA: dns; mx.example.net

            Final-Recipient: rfc822; ann@example.com
            Action: failed
            Status: 5.1.1
            Diagnostic-Code: smtp; 550 5.1.1 user unknown
            --XX--

            """
        _ = FileManager.default.createFile(atPath: folder + "/one.eml", contents: Data(dsn.utf8))
        _ = FileManager.default.createFile(atPath: folder + "/feed.jsonl", contents: Data("{}\n".utf8))
        _ = FileManager.default.createFile(atPath: folder + "/.DS_Store", contents: Data())
        let r = cli.run("ingest", "--delivery", "d1", folder)
        #expect(r.exitCode == 0, "\(r.error)")
        #expect(r.output.contains("1 entry not read, not .eml (feed.jsonl)"), "\(r.output)")
        #expect(!r.output.contains(".DS_Store"), "\(r.output)")
    }
}

/// A rejected bounce message is one line of the reject file, percent-encoded (`%`, CR, LF): decoding
/// the line gives back the message's exact bytes — CRLF line ends, a `%` and trailing blank lines
/// included (found by a tester: `%` was written as it is and trailing newlines were dropped, so the
/// line could not be turned back into the message).
@Test func rejectedBounceMessagesDecodeToTheirExactBytes() throws {
    let cli = CLI()
    let folder = cli.directory.path("bounces")
    try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    let notABounce = "From: ann@example.com\r\nSubject: 100% sure\r\n\r\nThis is not a bounce: %0A stays text.\r\n\r\n\r\n"
    _ = FileManager.default.createFile(atPath: folder + "/a.eml", contents: Data(notABounce.utf8))
    let rejects = cli.directory.path("rejects.txt")
    let r = cli.run("ingest", "--delivery", "d1", "--skip-invalid", "--reject-file", rejects, folder)
    #expect(r.exitCode == 0, "\(r.error)")
    #expect(r.output.contains("1 rejected"), "\(r.output)")
    let written = try String(contentsOfFile: rejects, encoding: .utf8)
    #expect(written == "From: ann@example.com%0D%0ASubject: 100%25 sure%0D%0A%0D%0AThis is not a bounce: %250A stays text.%0D%0A%0D%0A%0D%0A\n")
    // Decoding (every %XX back to its byte) gives back the file.
    let line = try #require(written.split(separator: "\n").first)
    #expect(line.removingPercentEncoding == notABounce)
}

/// Raw bytes that are not UTF-8 (an email in Latin-1) are given as base64, exactly.
@Test func rawBytesThatAreNotUTF8AreGivenInBase64() throws {
    var e = Event(id: "x", kind: .relay, delivery: "d", recipient: "a@example.com", occurredAt: Instant(secondsSinceEpoch: 1_800_000_000))
    e.raw = [0x53, 0x75, 0x62, 0x6A, 0x3A, 0x20, 0xE9, 0x74, 0xE9, 0x0A]  // "Subj: été\n" in Latin-1
    let json = StatusJSON.EventJSON(RecordedEvent(position: 1, recordedAt: e.occurredAt, event: e), includeRaw: true)
    #expect(json.raw == nil)
    let decoded = json.rawBase64.flatMap { Data(base64Encoded: $0) }
    #expect(decoded.map { [UInt8]($0) } == e.raw)
}
