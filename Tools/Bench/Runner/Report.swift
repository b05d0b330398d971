import Foundation

/// One figure of the report: the ledger's value, its baseline's, the ratio and the goal.
struct Row: Codable {
    /// What is measured.
    var name: String
    /// The ledger's figure and its unit.
    var value: Double
    var unit: String
    /// The baseline it is compared with, if any, and its figure in the same unit.
    var baseline: String?
    var baselineValue: Double?
    /// ledger ÷ baseline for rates, baseline ÷ ledger for times and sizes: above 1 the ledger is ahead.
    var ratio: Double?
    /// The goal of issue #5, as text, and whether this run meets it (`nil`: no goal).
    var goal: String?
    var met: Bool?
}

/// The benchmark's whole output (`--json`).
struct Report: Codable {
    var machine: String
    var events: Int
    var deliveries: Int
    var recipientsPerDelivery: Int
    var rows: [Row] = []
    /// Correctness checks: name → passed. A failed check makes the run fail.
    var checks: [String: Bool] = [:]

    mutating func rate(_ name: String, events: Int, seconds: Double, baseline: String? = nil, baselineEvents: Int? = nil,
                       baselineSeconds: Double? = nil, goal: String? = nil, met: ((Double, Double?) -> Bool)? = nil) {
        let v = Double(events) / max(seconds, 1e-9)
        let b = baselineSeconds.map { Double(baselineEvents ?? events) / max($0, 1e-9) }
        rows.append(Row(name: name, value: v, unit: "events/s", baseline: baseline, baselineValue: b,
                        ratio: b.map { v / $0 }, goal: goal, met: met.map { $0(v, b.map { v / $0 }) }))
    }

    mutating func time(_ name: String, seconds: Double, baseline: String? = nil, baselineSeconds: Double? = nil,
                       goal: String? = nil, met: ((Double) -> Bool)? = nil) {
        rows.append(Row(name: name, value: seconds * 1000, unit: "ms", baseline: baseline, baselineValue: baselineSeconds.map { $0 * 1000 },
                        ratio: baselineSeconds.map { $0 / max(seconds, 1e-12) }, goal: goal, met: met.map { $0(seconds) }))
    }

    mutating func size(_ name: String, value: Double, unit: String, baseline: String? = nil, baselineValue: Double? = nil,
                       goal: String? = nil, met: Bool? = nil) {
        rows.append(Row(name: name, value: value, unit: unit, baseline: baseline, baselineValue: baselineValue,
                        ratio: baselineValue.map { $0 / max(value, 1e-12) }, goal: goal, met: met))
    }

    /// A short table for people.
    func table() -> String {
        func fmt(_ v: Double, _ unit: String) -> String {
            switch unit {
            case "events/s": return v >= 1e6 ? String(format: "%.2f M/s", v / 1e6) : String(format: "%.0f k/s", v / 1e3)
            case "ms": return v < 1 ? String(format: "%.1f µs", v * 1000) : v < 100 ? String(format: "%.2f ms", v) : String(format: "%.2f s", v / 1000)
            case "MiB": return String(format: "%.0f MiB", v)
            default: return String(format: "%.1f %@", v, unit)
            }
        }
        var lines = ["Delivery Ledger benchmark — \(events) events, \(deliveries) × \(recipientsPerDelivery) recipients — \(machine)",
                     "ratio > 1: the ledger is ahead of its baseline", ""]
        let w0 = max(20, rows.map(\.name.count).max() ?? 0)
        func pad(_ s: String, _ n: Int) -> String { s.count >= n ? s : s + String(repeating: " ", count: n - s.count) }
        lines.append(pad("figure", w0) + "  " + pad("ledger", 12) + "  " + pad("baseline", 32) + "  " + pad("ratio", 8) + "  goal")
        for r in rows {
            let base = r.baseline.map { "\($0) \(r.baselineValue.map { fmt($0, r.unit) } ?? "")" } ?? "—"
            let ratio = r.ratio.map { String(format: "%.2f×", $0) } ?? "—"
            let goal = r.goal.map { "\($0) \(r.met == true ? "met" : r.met == false ? "NOT met" : "")" } ?? ""
            lines.append(pad(r.name, w0) + "  " + pad(fmt(r.value, r.unit), 12) + "  " + pad(base, 32) + "  " + pad(ratio, 8) + "  " + goal)
        }
        lines.append("")
        lines.append("checks: " + checks.keys.sorted().map { "\($0) \(checks[$0]! ? "ok" : "FAILED")" }.joined(separator: "; "))
        return lines.joined(separator: "\n")
    }

    func json() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return String(decoding: try encoder.encode(self), as: UTF8.self)
    }
}
