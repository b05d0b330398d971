import ArgumentParser
import DeliveryLedger
import LedgerReports

struct HistoryCommand: OutputCommand {
    static let configuration = CommandConfiguration(
        commandName: "history",
        abstract: "Show a recipient's timeline: each event and the status it led to under classic and EFS.",
        discussion: """
            Events in valid-time order (ties by log position), each with when it occurred and when the ledger \
            recorded it, what the MTA said and how it was qualified, then the message's status under both \
            semantics once that event is folded in (domain.md §3). Without --delivery, one timeline per \
            delivery that has events for the recipient (with --format json: one JSON object per line, \
            Schemas/history.schema.json, with the names of status --format json).
            """
    )

    @OptionGroup var database: DatabaseOptions
    @OptionGroup var time: TimeOptions
    @Argument(help: "The recipient address.") var address: String
    @Option(help: "Only this delivery.") var delivery: String?
    @Option(help: "Output format: table or json.") var format: String = "table"
    @Flag(help: ArgumentHelp("With --format json: each event's raw source bytes exactly as they were read ('raw', as text when they are UTF-8, else 'rawBase64')."))
    var raw = false

    func validate() throws {
        guard format == "table" || format == "json" else { throw ValidationError("--format must be table or json, not '\(format)'") }
        if raw && format != "json" { throw ValidationError("--raw needs --format json (raw bytes are not a table cell)") }
        do { _ = try Address.parse(address) } catch { throw ValidationError("'\(address)' is not an email address: \(error)") }
    }

    func execute(_ out: inout Output) throws {
        let ledger = try database.open(.read)
        let deliveries = try delivery.map { [$0] } ?? ledger.deliveries(containing: address)
        var shown = 0
        for d in deliveries {
            guard let report = try ledger.status(delivery: d, recipient: address, at: time.bounds) else { continue }
            let history = MessageHistory(report, ledger: ledger)
            if format == "json" {
                out.line(try JSON.encode(HistoryJSON(report, history: history, includeRaw: raw), pretty: false))
                shown += 1
                continue
            }
            if shown > 0 { out.line() }
            shown += 1
            out.line("\(report.recipient) in delivery \(report.delivery)")
            out.line(BasisText.line(report.basis))
            var table = TextTable(header: ["#", "Occurred", "Recorded", "Source", "Event", "Classic", "EFS", "MTA said"], rightAligned: false)
            for step in history.steps {
                let r = step.recorded, e = r.event
                var what = e.kind.rawValue
                if e.kind == .bounce { what += e.final ? " (final)" : " (non-final)" }
                if e.beforeRelay { what += " before relay" }  // as `status` says it
                if let q = e.qualification { what += " [\(q.type.label), \(q.reason.label)]" }
                func label(_ v: MessageStatusView) -> String {
                    (v.status == .takenIntoAccount ? "Taken into account" : v.status.label) + (v.retrying ? " (retrying)" : "")
                }
                let flat = (e.response ?? "").split(whereSeparator: \.isNewline).joined(separator: " ")
                table.row("\(r.position)", e.occurredAt.rfc3339, r.recordedAt.rfc3339, e.source.rawValue, what, label(step.classic), label(step.efs),
                          flat.isEmpty ? "—" : String(flat.prefix(70)) + (flat.count > 70 ? "…" : ""))
            }
            for l in table.render() { out.line(l) }
        }
        // As status says it: events outside --as-of / --known-at, or which ledger was searched.
        if shown == 0 { throw StatusCommand.noEvents(address: address, delivery: delivery, deliveries: deliveries, bounds: time.bounds, ledger: ledger) }
    }
}
