import ArgumentParser
import DeliveryLedger

struct RepairCommand: OutputCommand {
    static let configuration = CommandConfiguration(
        commandName: "repair",
        abstract: "Mend a ledger whose data file has one damaged LMDB meta page, from the other one; then verify it.",
        discussion: """
            LMDB keeps two meta pages, each naming a whole, intact tree; it refuses a file with either damaged \
            (every command then says the ledger is damaged at a meta page). repair writes a copy of the sound \
            meta page in place of the damaged one, keeps the damaged page's bytes in the ledger's directory, \
            and runs verify. When the damaged page was the newest (a commit torn by a crash) no acknowledged \
            event is lost; otherwise the last commit's events must be ingested again (idempotent). With both \
            meta pages damaged, restore from a backup. No other process may have the ledger open. \
            Other damage is not mended here: `ledger verify` names it; a damaged persisted projection is \
            rebuilt by `ledger reproject`.
            """
    )

    @OptionGroup var database: DatabaseOptions
    @Flag(help: "Say what would be mended; write nothing.") var dryRun = false

    func execute(_ out: inout Output) throws {
        let path = database.path
        let found: MetaPageMend?
        do {
            found = try Ledger.mendMetaPage(path: path, dryRun: dryRun)
        } catch let LedgerError.damaged(path, what) {
            throw CLIError("cannot mend the ledger at '\(path)': \(what). Nothing was written")
        }
        guard let mend = found else {
            out.line("The data file's meta pages are sound: nothing to mend there.")
            try verifyTheRest(path: path, &out)
            return
        }
        if mend.swapped {
            out.line(dryRun ? "Meta pages 0 and 1 are in each other's place (each sound where the other should be): repair would swap them back "
                     + "(LMDB transaction \(mend.transactionID) stays the newest); nothing was written."
                     : "Meta pages 0 and 1 were in each other's place: swapped back (LMDB transaction \(mend.transactionID) is the newest; nothing was lost).")
            if dryRun { return }
        } else if dryRun {
            out.line("Meta page \(mend.damagedPage) \(mend.problem). repair would write a copy of meta page \(1 - mend.damagedPage) "
                     + "(LMDB transaction \(mend.transactionID)) in its place; nothing was written.")
            return
        }
        if !mend.swapped { out.line("Meta page \(mend.damagedPage) \(mend.problem): mended from meta page \(1 - mend.damagedPage) (LMDB transaction \(mend.transactionID)).") }
        if let copy = mend.savedCopy { out.line("The damaged page's bytes are kept in \(copy).") }
        let ledger = try database.open(.read, checkStructure: false)  // verify below names what is wrong
        let report = try ledger.verify()
        out.line("Records: \(report.records) (the log ends at position \(report.records)); hash-chain head: \(report.head)")
        if !mend.swapped { out.line("If events after position \(report.records) had been acknowledged, ingest their files again: what is there is not appended twice.") }
        guard report.isHealthy else {
            for p in report.problems { out.line("  \(p)") }
            throw CLIError("the ledger at '\(ledger.path)' opens again but does not match its log: \(report.problems[0]) (`ledger verify --db \(ledger.path)`)")
        }
        out.line("OK: the log, its hash chain, the indexes and the persisted projection agree.")
    }

    /// Meta pages sound: verify, as the help says (it exited 0 on ledgers verify rejects: a tester's
    /// find), and say where the damage is and the way out.
    private func verifyTheRest(path: String, _ out: inout Output) throws {
        let ledger = try database.open(.read, checkStructure: false)
        let report = try ledger.verify()
        guard report.isHealthy else {
            for p in report.problems { out.line("  \(p)") }
            let way = report.problems.allSatisfy(\.inProjection)
                ? "`ledger reproject --db \(path)` rebuilds the persisted projection from the log"
                : "repair mends only meta pages: restore the ledger from a backup (`ledger backup`), or keep it for the records verify does not name"
            throw CLIError("the ledger at '\(path)' is damaged elsewhere: \(report.problems[0]); \(way)")
        }
        out.line("OK: the log, its hash chain, the indexes and the persisted projection agree.")
    }
}
