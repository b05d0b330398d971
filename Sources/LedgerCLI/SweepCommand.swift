import ArgumentParser
import DeliveryLedger

struct SweepCommand: OutputCommand {
    static let configuration = CommandConfiguration(
        commandName: "sweep",
        abstract: "Append timeouts for messages still retrying when their validity period ran out.",
        discussion: """
            Effective validity = min(the delivery's validity, default 5 days; 3.5 days), counted from each \
            message's relay (domain.md §4). A message retrying at that moment gets a timeout event (soft, \
            the last soft failure's reason); a relayed message with no feedback at all is only counted. \
            Running it twice appends nothing new. It decides from the recorded events, so it first runs \
            verify's checks and appends nothing to a ledger that fails them (--no-verify skips them).
            """
    )

    @OptionGroup var database: DatabaseOptions
    @Option(help: "The sweep's instant (RFC 3339); default now.") var now: String?
    @Flag(name: .customLong("no-verify"),
          help: "Sweep without first checking the ledger against its log (by default the sweep runs verify's checks and appends nothing to a damaged ledger: it decides from the recorded events; the check reads the whole ledger).")
    var noVerify = false

    func validate() throws {
        if let now, let problem = Instant.rfc3339Problem(now) { throw ValidationError("--now '\(now)' \(problem)") }
    }

    func execute(_ out: inout Output) throws {
        let ledger = try database.open(.write, checkStructure: noVerify)
        // The timeouts are decided from the recorded events: a record whose bytes fail the hash chain
        // would have the sweep append a permanent event on evidence that is not the log's (found by a
        // tester: a damaged record's kind turned a delivered message into a retrying one, and the
        // sweep timed it out). verify's checks first, as ingest does (they include the page walk).
        if !noVerify { try IngestCommand.refuseIfDamaged(ledger, command: "sweep") }
        if let note = ledger.reprojectionNote { out.line(note) }
        let present = Ledger.systemClock()
        let instant = now.flatMap { Instant(rfc3339: $0) } ?? present
        // A timeout is a fact of the past: sweeping at a future instant would record expiries that
        // have not happened (an event occurring after it is recorded), which a later real delivery
        // could not undo. Past instants are fine (catching up on a period).
        guard instant <= present else {
            throw CLIError("--now \(instant.rfc3339) is in the future (it is \(present.rfc3339)): a sweep records expiries that have happened; nothing was appended.")
        }
        let r = try ledger.sweep(now: instant)
        out.line("Sweep at \(instant.rfc3339): appended \(r.appended) timeout\(r.appended == 1 ? "" : "s"); "
                 + "\(r.noFeedback) relayed message\(r.noFeedback == 1 ? "" : "s") past validity with no feedback (not failed"
                 + (r.noFeedback == 0 ? ")." : "; `ledger audit --delivery D --kind noFeedbackPastValidity` lists them)."))
        // Which deliveries (the busiest first, at most 20 named).
        let busiest = r.noFeedbackByDelivery.sorted { ($1.value, $0.key) < ($0.value, $1.key) }
        for (delivery, count) in busiest.prefix(20) { out.line("  \(delivery): \(count)") }
        if busiest.count > 20 { out.line("  … and \(busiest.count - 20) more deliveries") }
    }
}
