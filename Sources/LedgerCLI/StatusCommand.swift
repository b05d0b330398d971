import ArgumentParser
import DeliveryLedger
import LedgerReports

struct StatusCommand: OutputCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Print a recipient's delivery status under both semantics, with the events that decided it.",
        discussion: """
            Without --delivery, prints the recipient's status in every delivery that has events for it \
            (with --format json: one JSON object per line, Schemas/status.schema.json).
            """
    )

    @OptionGroup var database: DatabaseOptions
    @OptionGroup var time: TimeOptions
    @Argument(help: "The recipient address (the domain is compared case-insensitively).") var address: String
    @Option(help: "Only this delivery.") var delivery: String?
    @Option(help: "Output format: table or json.") var format: String = "table"

    func validate() throws {
        guard format == "table" || format == "json" else { throw ValidationError("--format must be table or json, not '\(format)'") }
        do { _ = try Address.parse(address) } catch { throw ValidationError("'\(address)' is not an email address: \(error)") }
    }

    func execute(_ out: inout Output) throws {
        let ledger = try database.open(.read)
        let deliveries = try delivery.map { [$0] } ?? ledger.deliveries(containing: address)
        var reports: [MessageStatusReport] = []
        for d in deliveries {
            if let r = try ledger.status(delivery: d, recipient: address, at: time.bounds) { reports.append(r) }
        }
        guard !reports.isEmpty else {
            throw Self.noEvents(address: address, delivery: delivery, deliveries: deliveries, bounds: time.bounds, ledger: ledger)
        }
        if format == "json" {
            for r in reports { out.line(try JSON.encode(StatusJSON(r), pretty: false)) }
            return
        }
        for (i, r) in reports.enumerated() {
            if i > 0 { out.line() }
            render(r, &out)
        }
    }

    /// The error when nothing is shown for `address`: when it has events in `deliveries` but none
    /// within the time bounds, says so and which bound (`status` and `history` alike); else "no
    /// events", naming the ledger searched (a mistyped --db reads as "no events").
    static func noEvents(address: String, delivery: String?, deliveries: [String], bounds: TimeBounds, ledger: Ledger) -> CLIError {
        let shown = Address.normalize(address) ?? address   // as the ledger spells it
        if !bounds.isUnbounded, !deliveries.isEmpty {
            let place = deliveries.count == 1 ? " in delivery '\(deliveries[0])'" : " in \(deliveries.count) deliveries"
            var said: [String] = []
            if let a = bounds.asOf { said.append("occurred by \(a.rfc3339) (--as-of)") }
            if let k = bounds.knownAt { said.append("was recorded by \(k.rfc3339) (--known-at)") }
            return CLIError("\(shown) has events\(place), but none that " + said.joined(separator: " and "))
        }
        return CLIError("no events for \(shown)" + (delivery.map { " in delivery '\($0)'" } ?? " in any delivery") + " (ledger \(ledger.path))"
                        + caseHint(shown, pool: { try delivery.map { try ledger.recipients(delivery: $0) } ?? ledger.addresses() }))
    }

    /// When the ledger holds addresses that differ from `address` only in letter case, says so: the
    /// local part of an address is case-sensitive (RFC 5321 §2.4; the ledger keeps it as sent and
    /// lower-cases only the domain, ``Address``), so `Ann@example.com` and `ann@example.com` are
    /// two recipients — a user who typed one usually meant the other. Empty when there is none.
    static func caseHint(_ address: String, pool: () throws -> [String]) -> String {
        let lower = address.lowercased()
        guard let candidates = try? pool() else { return "" }
        let near = candidates.filter { $0 != address && $0.lowercased() == lower }
        guard !near.isEmpty else { return "" }
        let shown = near.prefix(3).joined(separator: ", ") + (near.count > 3 ? ", …" : "")
        return ". It has \(shown), which differ\(near.count == 1 ? "s" : "") only in letter case: the local part of an address is "
            + "case-sensitive (RFC 5321 §2.4), so that is another recipient"
    }

    private func render(_ r: MessageStatusReport, _ out: inout Output) {
        out.line("\(r.recipient) in delivery \(r.delivery)")
        out.line(BasisText.line(r.basis))
        var table = TextTable(header: ["", "Status", "Failure type", "Reason", "Decided by"], rightAligned: false)
        for s in Semantics.allCases {
            let v = r.view(s)
            table.row(Format.semanticsLabel(s), v.status.label + (v.retrying ? " (retrying)" : ""),
                      v.failureType?.label ?? "—", v.failureReason?.label ?? "—", v.decidedBy.map { "#\($0)" } ?? "—")
        }
        for l in table.render() { out.line(l) }
        out.line("  Events (valid time, then transaction time):")
        let decisive = Set([r.classic.decidedBy, r.efs.decidedBy].compactMap { $0 })
        for e in r.events.sorted(by: { ($0.event.occurredAt, $0.position) < ($1.event.occurredAt, $1.position) }) {
            var line = "  \(decisive.contains(e.position) ? "→" : " ") #\(e.position) \(e.event.occurredAt.rfc3339) (recorded \(e.recordedAt.rfc3339)) from \(e.event.source.rawValue): \(e.event.kind.rawValue)"
            if e.event.kind == .bounce { line += e.event.final ? " final" : " non-final" }
            if e.event.beforeRelay { line += " before relay" }
            if let q = e.event.qualification {
                // The rule that decided, for text rules (`<table>#<rule id>`).
                let rule = e.event.qualifier.flatMap { t in t.firstIndex(of: "#").map { " by rule \(t[t.index(after: $0)...])" } } ?? ""
                line += " [\(q.type.label), \(q.reason.label)\(rule)]"
            }
            if let c = e.event.bounceClass { line += " class \(c)" }
            if let resp = e.event.response {
                let flat = resp.split(whereSeparator: \.isNewline).joined(separator: " ")
                line += ": \(flat.prefix(110))\(flat.count > 110 ? "…" : "")"
            }
            out.line(line)
        }
    }
}
