import ArgumentParser
import DeliveryLedger

struct ReprojectCommand: OutputCommand {
    static let configuration = CommandConfiguration(
        commandName: "reproject",
        abstract: "Rebuild the persisted projection from the log into a new generation.",
        discussion: """
            Folds the whole log again (per-message statuses, per-delivery KPI counters, the valid-time \
            steps and minute checkpoints) with the rule table in use (--rules, else the built-in one), in \
            one transaction: readers see the previous generation until it commits; the log is not changed. \
            Opening the ledger with a rule table of another version does this by itself. The EFS flag needs \
            no re-projection: both semantics are read from the same counters. It first runs verify's \
            checks of the log (hash chain, decoding, links): a projection is rebuilt from a sound log \
            only — a damaged log needs a backup, and re-projecting it would replace the last good \
            projection with one folded from damaged records (--no-verify skips the check).
            """
    )

    @OptionGroup var database: DatabaseOptions
    @Flag(name: .customLong("no-verify"),
          help: "Re-project without first checking the log (the check reads the whole ledger, about as long as `ledger verify`).")
    var noVerify = false

    func execute(_ out: inout Output) throws {
        let ledger = try database.open(.write)
        // Damage in the persisted projection is what a re-projection mends; damage in the log is not
        // (a tester's flipped byte in a recipient became a phantom recipient, exit 0). Verify reports
        // the log's problems first, so the first problem tells which.
        if !noVerify, let problem = try ledger.verify(maximumProblems: 1).problems.first, !problem.inProjection {
            throw LedgerError.damaged(path: ledger.path, what: "\(problem) (found by the check reproject runs first: the log itself is damaged, and a projection "
                                      + "folded from it would not be the ledger's)")
        }
        // Opening with another rule table (or after a layout change) has just re-projected: once is enough.
        let info = try ledger.rebuiltOnOpen ?? ledger.rebuildProjection()
        let rate = info.seconds > 0 ? Double(info.eventsFolded) / info.seconds : 0
        out.line("Generation \(info.generation) (rules \(info.rules)): \(info.eventsFolded) events re-projected in "
                 + "\(String(format: "%.3f", info.seconds)) s (\(Int(rate.rounded())) events/s), up to position \(info.checkpoint).")
    }
}
