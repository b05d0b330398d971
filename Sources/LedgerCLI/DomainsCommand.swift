import ArgumentParser
import DeliveryLedger
import LedgerReports

/// `ledger domains`: a delivery's breakdown by recipient domain (domain.md §3).
struct DomainsCommand: OutputCommand {
    static let configuration = CommandConfiguration(
        commandName: "domains",
        abstract: "A delivery's breakdown by recipient domain: processed, delivered, hard and soft failures per reason, no feedback.",
        discussion: """
            Campaign's Delivery statistics report, by recipient domain (domain.md §3): each message counted \
            once by its status now, with the delivery's KPI definitions; "no feedback" counts relayed \
            messages whose validity (min(validity, 3.5 days) from their relay) ran out by --now with no \
            outcome at all. A scan of the delivery's messages (unlike `project`, which reads counters). \
            --format json prints every domain with every reason (Schemas/domains.schema.json); csv one row \
            per domain, then the total as domain \"(total)\".
            """
    )

    @OptionGroup var database: DatabaseOptions
    @Option(help: "The delivery.") var delivery: String
    @Option(help: "The instant past-validity is judged at (RFC 3339); default now.") var now: String?
    @Option(help: "Output format: table, json or csv.") var format: String = "table"
    @Option(help: "With the table: domains shown, the most processed first (0: all).") var limit: Int = 30

    func validate() throws {
        if let now, let problem = Instant.rfc3339Problem(now) { throw ValidationError("--now '\(now)' \(problem)") }
        guard ["table", "json", "csv"].contains(format) else { throw ValidationError("--format must be table, json or csv, not '\(format)'") }
        guard limit >= 0 else { throw ValidationError("--limit must be 0 (all) or more, not \(limit)") }
    }

    func execute(_ out: inout Output) throws {
        let ledger = try database.open(.read)
        let at = now.flatMap { Instant(rfc3339: $0) } ?? Ledger.systemClock()
        guard let b = try ledger.domainBreakdown(delivery: delivery, semantics: .classic, now: at) else {
            throw CLIError("unknown delivery '\(delivery)'")
        }
        switch format {
        case "json":
            out.line(try JSON.encode(DomainsJSON(b), pretty: true))
        case "csv":
            let reasons = FailureReason.allCases
            out.line((["domain", "processed", "relayed", "delivered", "deliveredRate", "failed", "hard", "soft", "hardBounced", "retrying", "noFeedback"]
                      + reasons.map { "hard.\($0.rawValue)" } + reasons.map { "soft.\($0.rawValue)" }).joined(separator: ","))
            // The last row, domain "(total)", is the delivery's.
            for (n, r) in (b.domains + [b.total]).enumerated() {
                let isTotal = n == b.domains.count
                let k = r.kpis
                let rate: String = k.deliveredRate.map { String($0) } ?? ""
                var cells: [String] = [CSV.field(isTotal ? "(total)" : r.domain), String(k.processed), String(k.relayed), String(k.delivered), rate]
                cells += [String(k.failed), String(k.failedByType[.hard] ?? 0), String(k.failedByType[.soft] ?? 0)]
                cells += [String(k.hardBounced), String(k.retrying), String(r.noFeedback)]
                cells += reasons.map { String(r.hardByReason[$0] ?? 0) }
                cells += reasons.map { String(r.softByReason[$0] ?? 0) }
                out.line(cells.joined(separator: ","))
            }
        default:
            out.line("Delivery \(delivery) by recipient domain, at \(at.rfc3339) (validity \(b.validitySeconds) s; log position \(b.basis.position)): "
                     + "\(b.domains.count) domain\(b.domains.count == 1 ? "" : "s"), no feedback \(b.noFeedback)")
            // Hard and Soft: failed messages of that type, before relay included (as `project`'s failures by type).
            var table = TextTable(header: ["Domain", "Processed", "Delivered", "Delivered %", "Hard", "Soft", "Other failed", "Retrying", "No feedback", "Failures by reason"])
            table.leftAlignedColumns = [9]
            let shown = limit == 0 ? b.domains.count : min(limit, b.domains.count)
            for (n, r) in (Array(b.domains.prefix(shown)) + [b.total]).enumerated() {
                let isTotal = n == shown
                let k = r.kpis
                let hard = r.hardByReason.values.reduce(0, +), soft = r.softByReason.values.reduce(0, +)
                let reasons = FailureReason.allCases.compactMap { reason -> String? in
                    let h = r.hardByReason[reason] ?? 0, s = r.softByReason[reason] ?? 0
                    guard h + s > 0 else { return nil }
                    return "\(reason.label) \(h > 0 ? "hard \(h)" : "")\(h > 0 && s > 0 ? ", " : "")\(s > 0 ? "soft \(s)" : "")"
                }
                table.row([isTotal ? "Total" : r.domain.isEmpty ? "(none)" : r.domain, String(k.processed), String(k.delivered), Format.percent(k.deliveredRate),
                           String(hard), String(soft), String(k.failed - hard - soft), String(k.retrying), String(r.noFeedback),
                           reasons.joined(separator: "; ")])
            }
            for line in table.render() { out.line(line) }
            if b.domains.count > shown { out.line("  … and \(b.domains.count - shown) more domains (--limit 0 lists all; --format json or csv prints all)") }
        }
    }
}
