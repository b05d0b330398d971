import ArgumentParser
import DeliveryLedger

struct EFSCommand: OutputCommand {
    static let configuration = CommandConfiguration(
        commandName: "efs",
        abstract: "Turn the Email Feedback Service semantics on or off, or show its history.",
        discussion: """
            Appends an efsFlag event (instance-wide, effective at --at, default now). Nothing else is \
            rewritten: `ledger project` uses the flag in force at the time it projects, and --efs, --classic \
            or --both force a semantics (domain.md §7). Like ingest, it first runs verify's checks and \
            appends nothing to a ledger that fails them.
            """
    )

    enum Action: String, ExpressibleByArgument, CaseIterable { case enable, disable, history }

    @OptionGroup var database: DatabaseOptions
    @Argument(help: "enable, disable or history.") var action: Action
    @Option(help: "When the change takes effect: an RFC 3339 instant with its offset (e.g. 2026-11-01T00:00:00Z for UTC); default now.") var at: String?

    func validate() throws {
        if let at, let problem = Instant.rfc3339Problem(at) { throw ValidationError("--at '\(at)' \(problem)") }
        if action == .history && at != nil { throw ValidationError("--at goes with enable or disable") }
    }

    func execute(_ out: inout Output) throws {
        let ledger = try database.open(action == .history ? .read : .write)  // a typo in --db must not create a ledger
        if let note = ledger.reprojectionNote { out.line(note) }
        if action == .history {
            let history = try ledger.efsFlagHistory()
            if history.isEmpty { out.line("The EFS flag was never set: projections use the classic semantics.") }
            for r in history.sorted(by: { ($0.event.occurredAt, $0.position) < ($1.event.occurredAt, $1.position) }) {
                out.line("\(r.event.occurredAt.rfc3339)  \(r.event.enabled == true ? "enabled " : "disabled")  (position \(r.position), recorded \(r.recordedAt.rfc3339))")
            }
            return
        }
        // Nothing is appended to a ledger that fails verify's checks (as ingest and sweep do).
        try IngestCommand.refuseIfDamaged(ledger, command: "efs")
        let instant = at.flatMap { Instant(rfc3339: $0) } ?? Ledger.systemClock()
        let enabled = action == .enable
        let event = Event(id: "efs-\(enabled ? "on" : "off")-\(instant.millisecondsSinceEpoch)", kind: .efsFlag, delivery: "",
                          occurredAt: instant, enabled: enabled, source: .api)
        let result = try ledger.append([event])
        out.line("EFS \(enabled ? "enabled" : "disabled") from \(instant.rfc3339)"
                 + (result.duplicates.isEmpty ? " (position \(result.positions[0]))." : " (already recorded at position \(result.positions[0]))."))
    }
}
