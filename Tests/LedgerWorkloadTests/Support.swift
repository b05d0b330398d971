import Foundation
import LedgerWorkload
import Testing

/// One webhook element as the tests see it: its batch, group, raw bytes and scalar fields.
struct Element: Sendable {
    var batch: Int
    var group: String
    /// Scalar fields as strings (JSON strings as is, numbers and booleans as text).
    var fields: [String: String]
    /// Names of the fields whose value is an object or an array.
    var structuredFields: Set<String>
    /// The element's bytes as they appear in the batch.
    var bytes: [UInt8]

    var type: String { fields["type"] ?? "" }
    var eventId: String { fields["event_id"] ?? "" }
    var timestamp: Int64 { Int64(fields["timestamp"] ?? "") ?? -1 }
    var messageKey: String { (fields["campaign_id"] ?? "") + " " + (fields["rcpt_to"] ?? "") }
    var bounceClass: Int? { fields["bounce_class"].flatMap { Int($0) } }
}

/// Parsing and splitting helpers.
enum Feed {
    /// Splits a JSON array's bytes into its top-level elements' bytes (string-aware).
    static func splitArray(_ bytes: [UInt8]) -> [[UInt8]] {
        bytes.withUnsafeBufferPointer(splitArray)
    }

    static func splitArray(_ bytes: UnsafeBufferPointer<UInt8>) -> [[UInt8]] {
        var parts: [[UInt8]] = []
        var depth = 0, inString = false, escaped = false, start = -1
        for i in 0..<bytes.count {
            let c = bytes[i]
            if inString {
                if escaped { escaped = false } else if c == UInt8(ascii: "\\") { escaped = true } else if c == UInt8(ascii: "\"") { inString = false }
                continue
            }
            switch c {
            case UInt8(ascii: "\""): inString = true
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                depth += 1
                if depth == 2 { start = i }
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                if depth == 2 { parts.append(Array(UnsafeBufferPointer(rebasing: bytes[start...i]))) }
                depth -= 1
            default: break
            }
        }
        return parts
    }

    static func scalarText(_ value: Any) -> String? {
        switch value {
        case let s as String: return s
        case let n as NSNumber: return n.stringValue
        default: return nil
        }
    }

    /// Parses every batch with `JSONSerialization` and flattens the elements, in arrival order.
    static func elements(of batches: [[UInt8]]) throws -> [Element] {
        var result: [Element] = []
        for (b, batch) in batches.enumerated() {
            let parsed = try JSONSerialization.jsonObject(with: Data(batch))
            let array = try #require(parsed as? [Any], "batch \(b) is not a JSON array")
            let raw = splitArray(batch)
            #expect(raw.count == array.count, "batch \(b): splitter and parser disagree")
            for (k, item) in array.enumerated() {
                let object = try #require(item as? [String: Any], "batch \(b) element \(k) is not an object")
                let msys = try #require(object["msys"] as? [String: Any], "batch \(b) element \(k) has no msys")
                #expect(object.count == 1 && msys.count == 1, "batch \(b) element \(k): one msys with one group")
                let (group, body) = try #require(msys.first)
                let event = try #require(body as? [String: Any])
                var fields: [String: String] = [:]
                var structured: Set<String> = []
                for (key, value) in event {
                    if let text = scalarText(value) { fields[key] = text } else { structured.insert(key) }
                }
                result.append(Element(batch: b, group: group, fields: fields, structuredFields: structured,
                                      bytes: k < raw.count ? raw[k] : []))
            }
        }
        return result
    }

    /// Parses JSON Lines into objects (every line must end in a newline and be one object).
    static func lines(_ bytes: [UInt8]) throws -> [[String: Any]] {
        guard !bytes.isEmpty else { return [] }
        #expect(bytes.last == UInt8(ascii: "\n"), "JSON Lines must end with a newline")
        // One parse of `[line,line,…]` is much faster than one parse per line.
        var array: [UInt8] = [UInt8(ascii: "[")]
        array.reserveCapacity(bytes.count + 2)
        for b in bytes.dropLast() { array.append(b == UInt8(ascii: "\n") ? UInt8(ascii: ",") : b) }
        array.append(UInt8(ascii: "]"))
        let parsed = try JSONSerialization.jsonObject(with: Data(array))
        return try #require(parsed as? [[String: Any]], "every line must be one JSON object")
    }

    /// Seconds since the epoch of `YYYY-MM-DDTHH:MM:SS.fffZ` (UTC), or `nil` for any other text.
    static func epochSeconds(rfc3339 text: String) -> Int64? {
        let b = Array(text.utf8)
        guard b.count == 24, b[4] == 45, b[7] == 45, b[10] == 84, b[13] == 58, b[16] == 58, b[19] == 46, b[23] == 90 else { return nil }
        func number(_ range: Range<Int>) -> Int64? {
            var v: Int64 = 0
            for i in range { guard (48...57).contains(b[i]) else { return nil }; v = v * 10 + Int64(b[i] - 48) }
            return v
        }
        guard let y0 = number(0..<4), let m = number(5..<7), let d = number(8..<10), let hh = number(11..<13),
              let mm = number(14..<16), let ss = number(17..<19) else { return nil }
        // Howard Hinnant's days_from_civil.
        let y = m <= 2 ? y0 - 1 : y0
        let era = y / 400, yoe = y - era * 400
        let doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1
        let days = era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468
        return days * 86_400 + hh * 3600 + mm * 60 + ss
    }
}

/// Workloads shared by the tests (generated once per test process).
enum Fixtures {
    /// The default spec: one delivery of 10,000 recipients, seed 42.
    static let standard = Workload(spec: WorkloadSpec())
    /// Two deliveries, another seed, smaller batches.
    static let twoDeliveries = Workload(spec: WorkloadSpec(deliveries: 2, recipientsPerDelivery: 6_000, seed: 7, eventsPerBatch: 200))

    static let standardBatches: [[UInt8]] = standard.sparkPostBatches()
    static let standardElements: [Element] = (try? Feed.elements(of: standardBatches)) ?? []
    static let twoDeliveriesElements: [Element] = (try? Feed.elements(of: twoDeliveries.sparkPostBatches())) ?? []

    /// The parsed elements of one of the shared workloads (parsing again for any other).
    static func elements(of workload: Workload) throws -> [Element] {
        if workload.spec == standard.spec { return standardElements }
        if workload.spec == twoDeliveries.spec { return twoDeliveriesElements }
        return try Feed.elements(of: workload.sparkPostBatches())
    }
}

/// Tolerance for an observed share: five standard deviations of a binomial proportion, at
/// least half a percentage point of the expected share.
func tolerance(share p: Double, count n: Int) -> Double {
    max(5 * (p * (1 - p) / Double(max(n, 1))).squareRoot(), 0.005 * p)
}

/// Collects failed checks so that a loop over thousands of events records one issue, not
/// thousands of `#expect`s (which are slow in debug builds).
struct Problems {
    private(set) var list: [String] = []

    /// Records `message` when `condition` is false.
    mutating func check(_ condition: Bool, _ message: @autoclosure () -> String) {
        if !condition { list.append(message()) }
    }

    var isEmpty: Bool { list.isEmpty }
    /// The first few problems and their count, for an issue's comment.
    var summary: String { "\(list.count) problem(s): \(list.prefix(8).joined(separator: "; "))" }
}

/// Parameterized tests print their arguments: describe a workload by its spec, not its contents
/// (the default description is megabytes long).
extension Workload: CustomTestStringConvertible {
    public var testDescription: String {
        "Workload(\(spec.deliveries) × \(spec.recipientsPerDelivery), seed \(spec.seed))"
    }
}
