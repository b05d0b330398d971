import ArgumentParser
import DeliveryLedger
import Foundation
import LedgerReports

/// Output formats of `ledger project` and `ledger status`.
enum TableFormat: String, CaseIterable {
    /// `summary`: one line per delivery and semantics (``ProjectCommand``).
    case table, summary, json, csv
}

/// A plain-text table: a label column and right-aligned value columns.
struct TextTable {
    var header: [String]
    var rows: [[String]] = []
    /// Right-align the value columns (numbers); left-align them otherwise (text).
    var rightAligned = true
    /// Value columns left-aligned whatever ``rightAligned`` (a text column after numbers).
    var leftAlignedColumns: Set<Int> = []

    mutating func row(_ cells: String...) { rows.append(cells) }
    mutating func row(_ cells: [String]) { rows.append(cells) }

    func render(indent: String = "  ") -> [String] {
        let all = [header] + rows
        let columns = all.map(\.count).max() ?? 0
        var widths = Array(repeating: 0, count: columns)
        for r in all { for (i, c) in r.enumerated() { widths[i] = max(widths[i], c.count) } }
        return all.map { r in
            var line = indent
            for (i, c) in r.enumerated() {
                let pad = String(repeating: " ", count: widths[i] - c.count)
                line += i == 0 ? c + pad : (rightAligned && !leftAlignedColumns.contains(i) ? "  " + pad + c : "  " + c + pad)
            }
            while line.hasSuffix(" ") { line.removeLast() }
            return line
        }
    }
}

enum Format {
    static func percent(_ v: Double?) -> String {
        guard let v else { return "—" }
        return String(format: "%.1f %%", v * 100)
    }

    static func count(_ v: Int64) -> String { String(v) }

    static func semanticsLabel(_ s: Semantics) -> String { s == .classic ? "Classic" : "EFS" }
}

enum BasisText {
    /// One line saying what an answer is based on.
    static func line(_ b: Basis) -> String {
        var text = "Basis: log position \(b.position)" + (b.recordedAt.map { ", recorded \($0.rfc3339)" } ?? " (nothing recorded)")
        if let k = b.knownAt { text += "; known at \(k.rfc3339)" }
        if let a = b.asOf { text += "; as of \(a.rfc3339)" }
        return text + "; rule table \(b.rules)"
    }
}

/// The `--as-of` and `--known-at` options (domain.md §7).
struct TimeOptions: ParsableArguments {
    @Option(name: .customLong("as-of"), help: "Valid time: only events that occurred at or before this instant (RFC 3339).")
    var asOf: String?
    @Option(name: .customLong("known-at"), help: "Transaction time: only events the ledger had recorded by this instant (RFC 3339): what the dashboard showed then.")
    var knownAt: String?

    func validate() throws {
        for (name, value) in [("--as-of", asOf), ("--known-at", knownAt)] {
            if let value, let problem = Instant.rfc3339Problem(value) {
                throw ValidationError("\(name) '\(value)' \(problem)")
            }
        }
    }

    var bounds: TimeBounds { TimeBounds(asOf: asOf.flatMap { Instant(rfc3339: $0) }, knownAt: knownAt.flatMap { Instant(rfc3339: $0) }) }
}

enum JSON {
    static func encode(_ value: some Encodable, pretty: Bool) throws -> String { try ReportJSON.encode(value, pretty: pretty) }
}

/// Renders KPIs as a table: one value column per semantics.
enum KPITable {
    static func render(delivery: String, kpis: [DeliveryKPIs], declaration: DeliveryDeclaration) -> [String] {
        var table = TextTable(header: [""] + kpis.map { Format.semanticsLabel($0.semantics) })
        func row(_ label: String, _ value: (DeliveryKPIs) -> String) { table.row([label] + kpis.map(value)) }
        row("To deliver") { Format.count($0.toDeliver) }
        // Success % = success / to deliver (domain.md §6): undefined, shown "—", with nothing to deliver.
        row("Success") { Format.percent($0.toDeliver == 0 ? nil : $0.successRate) }
        row("Sent") { Format.count($0.sent) }
        row(MessageStatus.takenIntoAccount.label) { Format.count($0.takenIntoAccount) }
        row("Failed") { Format.count($0.failed) }
        // Right under Failed: a part of it, not of the reason above it (a fresh user read it so).
        row("  of which before relay (policy)") { Format.count($0.failedBeforeRelay) }
        for t in FailureType.allCases { row("  type \(t.label)") { Format.count($0.failedByType[t] ?? 0) } }
        for r in FailureReason.allCases where kpis.contains(where: { ($0.failedByReason[r] ?? 0) > 0 }) {
            row("  reason \(r.label)") { Format.count($0.failedByReason[r] ?? 0) }
        }
        row("Pending") { Format.count($0.pending) }
        row("Retrying (in Sent or Taken into account: soft error, MTA still trying)") { Format.count($0.retrying) }
        row("Processed") { Format.count($0.processed) }
        row("Relayed to the MTA") { Format.count($0.relayed) }
        row("Delivered (reported by the MTA)") { Format.count($0.delivered) }
        row("Bounces (after relay)") { Format.count($0.bounced) }
        row("Bounce rate (of relayed)") { Format.percent($0.bounceRate) }
        row("Hard bounces (after relay, hard failure)") { Format.count($0.hardBounced) }
        row("Hard bounce rate (of relayed)") { Format.percent($0.hardBounceRate) }
        var title = "Delivery \(delivery)"
        if let label = declaration.label { title += " — \(label)" }
        // A delivery asked about as of an instant before its first event occurred: known to the
        // ledger, but with no message yet at that valid time (a fresh user read the zeros as "0 %").
        if kpis.allSatisfy({ $0.toDeliver == 0 && $0.processed == 0 && $0.failed == 0 }) {
            return [title, "  No message of this delivery at these bounds: none of its events had occurred by then."] + table.render()
        }
        return [title] + table.render()
    }
}
