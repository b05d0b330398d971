import ArgumentParser
import DeliveryLedger
import LedgerReports

/// Which semantics a command shows.
enum SemanticsChoice: String, EnumerableFlag {
    case efs, classic, both

    static func help(for value: SemanticsChoice) -> ArgumentHelp? {
        switch value {
        case .efs: "Project with the Email Feedback Service semantics."
        case .classic: "Project with the classic semantics (Sent on relay)."
        case .both: "Show both semantics side by side."
        }
    }
}

struct ProjectCommand: OutputCommand {
    static let configuration = CommandConfiguration(
        commandName: "project",
        abstract: "Print each delivery's KPIs (Success %, sent, failed, pending, bounces).",
        discussion: """
            Without --efs, --classic or --both, uses the EFS flag in force now (or at --as-of), classic if it \
            was never set. The answer is read from the persisted projection, never by replaying the log: \
            with --as-of (events that occurred by then) from the delivery's minute checkpoints and the \
            valid-time steps of that minute; with --known-at (events recorded by then) from the steps the \
            log held at that instant. It states its basis: the last log position and its transaction time, \
            the bounds, the rule table version. Note that transaction time is the ledger's clock when the \
            events were ingested (for the demo: when you ran it), not when the MTA reported them.
            """
    )

    @OptionGroup var database: DatabaseOptions
    @OptionGroup var time: TimeOptions
    @Flag(exclusivity: .exclusive) var semantics: SemanticsChoice?
    @Option(help: "Only this delivery.") var delivery: String?
    @Option(help: "Output format: table, summary (one line per delivery and semantics), json or csv.") var format: String = "table"

    func validate() throws {
        guard TableFormat(rawValue: format) != nil else {
            throw ValidationError("--format must be table, summary, json or csv, not '\(format)'")
        }
    }

    func execute(_ out: inout Output) throws {
        let ledger = try database.open(.read)
        let selection: SemanticsSelection? = semantics.map { SemanticsSelection(rawValue: $0.rawValue)! }
        let report: ProjectReport
        do {
            report = try ProjectReport(ledger: ledger, semantics: selection, delivery: delivery, bounds: time.bounds)
        } catch let error as UnknownDelivery {
            throw CLIError(error.description)
        }
        let rows = report.rows
        switch TableFormat(rawValue: format)! {
        case .json:
            out.line(try JSON.encode(report.document, pretty: true))
        case .csv:
            out.line(CSV.header.joined(separator: ","))
            for k in rows { out.line(CSV.row(k).joined(separator: ",")) }
        case .summary:
            // Many deliveries at a glance (a table of ~20 lines each was 470 lines for 21 deliveries,
            // found by a fresh user); the counts are the table's, in its words.
            heading(report, ledger: ledger, &out)
            var table = TextTable(header: ["Delivery", "Semantics", "To deliver", "Success", "Sent", "Taken into account", "Failed", "Pending"])
            for k in rows {
                table.row(k.delivery, k.semantics.rawValue, String(k.toDeliver), Format.percent(k.successRate), String(k.sent),
                          String(k.takenIntoAccount), String(k.failed), String(k.pending))
            }
            if !rows.isEmpty { for l in table.render() { out.line(l) } }
        case .table:
            heading(report, ledger: ledger, &out)
            let byDelivery = Dictionary(grouping: rows, by: \.delivery)  // rows.filter per delivery was O(deliveries²)
            for d in report.listed {
                out.line()
                let ks = byDelivery[d] ?? []
                for l in KPITable.render(delivery: d, kpis: ks, declaration: try ledger.declaration(delivery: d, at: time.bounds)) { out.line(l) }
            }
        }
    }
}

extension ProjectCommand {
    /// The basis line of the text formats, and a line when there is no delivery to show.
    /// With `--known-at` before the log's first record, the line says when that record was recorded:
    /// transaction time is when events were ingested, not when they occurred (found by a fresh
    /// user trying a `--known-at` of the feed's own dates on a ledger ingested today).
    func heading(_ report: ProjectReport, ledger: Ledger, _ out: inout Output) {
        out.line(BasisText.line(report.basis))
        if report.deliveries.isEmpty { out.line("No deliveries yet: ingest MTA feedback with `ledger ingest FILE`.") }
        else if report.listed.isEmpty {
            var first: RecordedEvent?
            try? ledger.forEachEvent { first = $0; return false }
            let recorded = first.map { " The log's first record was recorded at \($0.recordedAt.rfc3339) (--known-at bounds when events were ingested, not when they occurred: --as-of bounds that)." } ?? ""
            out.line("No delivery was recorded yet at that instant." + (report.basis.knownAt != nil ? recorded : ""))
        }
    }
}

/// `ledger project --format csv`: one row per delivery and semantics, columns named as the JSON fields.
enum CSV {
    static let header: [String] = ["delivery", "semantics", "toDeliver", "success", "successRate", "sent", "failed", "pending",
                                   "takenIntoAccount", "retrying", "processed", "relayed", "delivered", "bounced",
                                   "failedBeforeRelay", "bounceRate", "hardBounced", "hardBounceRate", "deliveredRate"]
        + FailureType.allCases.map { "failedByType.\($0.rawValue)" }
        + FailureReason.allCases.map { "failedByReason.\($0.rawValue)" }

    /// One text cell (RFC 4180: quoted when it holds a comma, quote or line break; quotes doubled).
    /// A cell beginning with `=`, `+`, `-`, `@`, a tab or a carriage return — what a spreadsheet
    /// reads as a formula — gets a leading `'` and quotes (OWASP "CSV Injection"): recipient
    /// addresses come from the feeds, and `=1+2@example.com` is a valid address (RFC 5322 atext).
    /// The JSON formats carry every value unaltered.
    static func field(_ s: String) -> String {
        if let first = s.unicodeScalars.first, ["=", "+", "-", "@", "\t", "\r"].contains(first) {
            return "\"'" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\""
        }
        guard s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return s }
        return "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    static func row(_ k: DeliveryKPIs) -> [String] {
        func rate(_ v: Double?) -> String { v.map { String($0) } ?? "" }
        return [field(k.delivery), k.semantics.rawValue, String(k.toDeliver), String(k.success), String(k.successRate),
                String(k.sent), String(k.failed), String(k.pending), String(k.takenIntoAccount), String(k.retrying),
                String(k.processed), String(k.relayed), String(k.delivered), String(k.bounced), String(k.failedBeforeRelay),
                rate(k.bounceRate), String(k.hardBounced), rate(k.hardBounceRate), rate(k.deliveredRate)]
            + FailureType.allCases.map { String(k.failedByType[$0] ?? 0) }
            + FailureReason.allCases.map { String(k.failedByReason[$0] ?? 0) }
    }
}
