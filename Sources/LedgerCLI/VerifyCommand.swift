import ArgumentParser
import DeliveryLedger

struct VerifyCommand: OutputCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Check the ledger against its log: hash chain, indexes and persisted projections.",
        discussion: """
            Recomputes the SHA-256 chain over every record and compares it with the stored one, checks the \
            stream links, heads and message index, and folds the log from scratch to compare with the \
            persisted projection. Prints the chain's head (keep it elsewhere to detect a rewrite of the whole \
            chain). Exit code 1 when anything differs, naming the first position.
            """
    )

    @OptionGroup var database: DatabaseOptions

    func execute(_ out: inout Output) throws {
        do {
            try check(&out)
        } catch let LedgerError.damaged(path, what) {
            // Not the error every other command gives (it sends to `ledger verify`): verify itself
            // could not read the file's own structure (LMDB's meta pages or B-tree), below the records.
            // Whether repair can mend it is asked of the file, not read from the message.
            if (try? Ledger.mendMetaPage(path: path, dryRun: true)).flatMap({ $0 }) != nil {
                throw CLIError("the ledger at '\(path)' is damaged: \(what). verify cannot read past this; run `ledger repair --db \(path)`, "
                               + "then verify again. verify wrote nothing")
            }
            throw CLIError("the ledger at '\(path)' is damaged: \(what). verify cannot read past this: the damage is in "
                           + "LMDB's own structure (its meta pages or B-tree), not only in the projection, so `ledger reproject` "
                           + "cannot mend it; restore the ledger from a backup (see `ledger backup`). verify wrote nothing")
        }
    }

    private func check(_ out: inout Output) throws {
        let ledger = try database.open(.read, checkStructure: false)  // verify walks the pages itself and lists what it finds
        let report = try ledger.verify()
        out.line("Records: \(report.records); hash-chain head: \(report.head)")
        guard report.isHealthy else {
            for p in report.problems { out.line("  \(p)") }
            if report.problems.allSatisfy(\.inProjection) {
                out.line("The log and its hash chain are intact; only the persisted projection differs: `ledger reproject --db \(ledger.path)` rebuilds it from the log.")
            }
            throw CLIError("the ledger at '\(ledger.path)' does not match its log: \(report.problems[0])")
        }
        out.line("OK: the log, its hash chain, the indexes and the persisted projection agree.")
    }
}
