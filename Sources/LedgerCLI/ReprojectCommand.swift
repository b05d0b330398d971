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
            no re-projection: both semantics are read from the same counters.
            """
    )

    @OptionGroup var database: DatabaseOptions

    func execute(_ out: inout Output) throws {
        let ledger = try database.open(.write)
        // Opening with another rule table (or after a layout change) has just re-projected: once is enough.
        let info = try ledger.rebuiltOnOpen ?? ledger.rebuildProjection()
        let rate = info.seconds > 0 ? Double(info.eventsFolded) / info.seconds : 0
        out.line("Generation \(info.generation) (rules \(info.rules)): \(info.eventsFolded) events re-projected in "
                 + "\(String(format: "%.3f", info.seconds)) s (\(Int(rate.rounded())) events/s), up to position \(info.checkpoint).")
    }
}
