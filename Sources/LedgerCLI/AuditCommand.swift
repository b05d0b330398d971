import ArgumentParser
import DeliveryLedger

struct AuditCommand: OutputCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit",
        abstract: "List a delivery's anomalies: events after a final outcome, outcomes without relay, no feedback past validity, late records."
    )

    @OptionGroup var database: DatabaseOptions
    @Option(help: "The delivery to audit.") var delivery: String
    @Option(help: "The audit's instant (RFC 3339); default now.") var now: String?
    @Option(name: .customLong("late-after"), help: "Seconds between occurring and being recorded that count as late.") var lateAfter: Int64 = 86_400

    func validate() throws {
        if let now, let problem = Instant.rfc3339Problem(now) { throw ValidationError("--now '\(now)' \(problem)") }
        guard lateAfter > 0 else { throw ValidationError("--late-after must be positive") }
    }

    func execute(_ out: inout Output) throws {
        let ledger = try database.open(.read)
        guard try ledger.deliveries().contains(delivery) else { throw CLIError("unknown delivery '\(delivery)'") }
        let findings = try ledger.audit(delivery: delivery, now: now.flatMap { Instant(rfc3339: $0) }, lateAfterSeconds: lateAfter)
        // The counts by kind first: one kind (recorded late, on a back-filled ledger) can number
        // thousands and bury the others (found by a fresh user: 23,892 of 25,440 on the demo).
        let counts = AuditFinding.Kind.allCases.compactMap { kind -> String? in
            let n = findings.count { $0.kind == kind }
            return n == 0 ? nil : "\(kind.rawValue) \(n)"
        }
        out.line("Audit of delivery \(delivery): \(findings.count) finding\(findings.count == 1 ? "" : "s")"
                 + (counts.isEmpty ? "" : " (" + counts.joined(separator: ", ") + ")"))
        for kind in AuditFinding.Kind.allCases {
            let some = findings.filter { $0.kind == kind }
            guard !some.isEmpty else { continue }
            out.line("\(kind.rawValue) (\(some.count)):")
            // A finding about the delivery itself (its declarations: no recipient) says so.
            for f in some.prefix(50) { out.line("  #\(f.position) \(f.recipient.isEmpty ? "(the delivery's declaration)" : f.recipient): \(f.detail)") }
            if some.count > 50 { out.line("  … and \(some.count - 50) more") }
        }
    }
}
