import ArgumentParser
import DeliveryLedger
import LedgerReports

struct AuditCommand: OutputCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit",
        abstract: "List a delivery's anomalies: events after a final outcome, outcomes without relay, no feedback past validity, late records.",
        discussion: """
            The text output gives the counts by kind, then the first --limit findings of each kind \
            (default 50; 0 for all). --format json prints every finding, whatever --limit \
            (Schemas/audit.schema.json); --kind keeps the findings of the kinds named (either format).
            """
    )

    @OptionGroup var database: DatabaseOptions
    @Option(help: "The delivery to audit.") var delivery: String
    @Option(help: "The audit's instant (RFC 3339); default now.") var now: String?
    @Option(name: .customLong("late-after"), help: "Seconds between occurring and being recorded that count as late.") var lateAfter: Int64 = 86_400
    @Option(help: "Output format: table or json.") var format: String = "table"
    @Option(help: "With the table: findings shown per kind (0: all).") var limit: Int = 50
    @Option(help: ArgumentHelp("List only findings of these kinds (repeatable, or comma-separated): \(AuditFinding.Kind.allCases.map(\.rawValue).joined(separator: ", ")).", valueName: "kind"))
    var kind: [String] = []

    func validate() throws {
        if let now, let problem = Instant.rfc3339Problem(now) { throw ValidationError("--now '\(now)' \(problem)") }
        guard lateAfter > 0 else { throw ValidationError("--late-after must be positive") }
        guard format == "table" || format == "json" else { throw ValidationError("--format must be table or json, not '\(format)'") }
        guard limit >= 0 else { throw ValidationError("--limit must be 0 (all) or more, not \(limit)") }
        for value in kind where kinds([value]).isEmpty {
            throw ValidationError("--kind '\(value)' names no kind; the kinds: \(AuditFinding.Kind.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        for k in kinds(kind) where AuditFinding.Kind(rawValue: k) == nil {
            throw ValidationError("--kind '\(k)' is not a kind of finding; the kinds: \(AuditFinding.Kind.allCases.map(\.rawValue).joined(separator: ", "))")
        }
    }

    func execute(_ out: inout Output) throws {
        let ledger = try database.open(.read)
        guard try ledger.hasDelivery(delivery) else { throw CLIError("unknown delivery '\(delivery)'") }
        let at = now.flatMap { Instant(rfc3339: $0) } ?? Ledger.systemClock()
        let kinds = Set(kinds(kind).compactMap(AuditFinding.Kind.init(rawValue:)))
        let findings = try ledger.audit(delivery: delivery, now: at, lateAfterSeconds: lateAfter)
        if format == "json" {
            out.line(try JSON.encode(AuditJSON(delivery: delivery, now: at, lateAfterSeconds: lateAfter, findings: findings, kinds: kinds), pretty: true))
            return
        }
        // The first line counts every kind; the sections below list the kinds asked (--kind).
        // The counts by kind first: one kind (recorded late, on a back-filled ledger) can number
        // thousands and bury the others (found by a fresh user: 23,892 of 25,440 on the demo).
        let counts = AuditFinding.Kind.allCases.compactMap { kind -> String? in
            let n = findings.count { $0.kind == kind }
            return n == 0 ? nil : "\(kind.rawValue) \(n)"
        }
        out.line("Audit of delivery \(delivery): \(findings.count) finding\(findings.count == 1 ? "" : "s")"
                 + (counts.isEmpty ? "" : " (" + counts.joined(separator: ", ") + ")"))
        if !kinds.isEmpty, !findings.contains(where: { kinds.contains($0.kind) }) {
            out.line("No finding of the kind\(kinds.count == 1 ? "" : "s") asked (\(AuditFinding.Kind.allCases.filter(kinds.contains).map(\.rawValue).joined(separator: ", "))).")
        }
        for kind in AuditFinding.Kind.allCases where kinds.isEmpty || kinds.contains(kind) {
            let some = findings.filter { $0.kind == kind }
            guard !some.isEmpty else { continue }
            out.line("\(kind.rawValue) (\(some.count)):")
            // A finding about the delivery itself (its declarations: no recipient) says so.
            let shown = limit == 0 ? some.count : min(limit, some.count)
            for f in some.prefix(shown) { out.line("  #\(f.position) \(f.recipient.isEmpty ? "(the delivery's declaration)" : f.recipient): \(f.detail)") }
            if some.count > shown { out.line("  … and \(some.count - shown) more (--limit 0 lists all; --format json prints all)") }
        }
    }

    /// The kinds named by `--kind`, each value a kind or a comma-separated list (as the API's `kind=a,b`).
    private func kinds(_ values: [String]) -> [String] {
        values.flatMap { $0.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) } }.filter { !$0.isEmpty }
    }
}
