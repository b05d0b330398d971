import Foundation
import LedgerTestSupport
import LedgerWorkload
import Testing

@Suite("Canonical JSON Lines output")
struct CanonicalOutputTests {
    @Test("Delivery declarations: one line per delivery with the documented fields")
    func declarations() throws {
        let w = Fixtures.twoDeliveries
        let lines = try Feed.lines(w.deliveryDeclarationsJSONL())
        #expect(lines.count == 2)
        for (n, line) in lines.enumerated() {
            #expect(Set(line.keys) == ["id", "kind", "delivery", "occurredAt", "toDeliver", "validitySeconds", "label"])
            #expect(line["kind"] as? String == "delivery")
            #expect(line["delivery"] as? String == "campaign-2026-11-\(n + 1)")
            #expect(line["toDeliver"] as? Int == 6_000)
            #expect(line["validitySeconds"] as? Int == 432_000)
            #expect((line["label"] as? String)?.isEmpty == false)
        }
        #expect(lines[0]["occurredAt"] as? String == "2026-11-02T09:00:00.000Z")
        #expect(lines[1]["occurredAt"] as? String == "2026-11-03T09:00:00.000Z")
        #expect(w.deliveryIds == ["campaign-2026-11-1", "campaign-2026-11-2"])
    }

    @Test("The start instant is honoured, to the millisecond in declarations")
    func customStart() throws {
        let w = Workload(spec: WorkloadSpec(recipientsPerDelivery: 10, start: 1_704_067_199_250))  // 2023-12-31T23:59:59.250Z
        let declaration = try #require(try Feed.lines(w.deliveryDeclarationsJSONL()).first)
        #expect(declaration["occurredAt"] as? String == "2023-12-31T23:59:59.250Z")
        let first = try #require(try Feed.lines(w.canonicalJSONL()).compactMap { $0["occurredAt"] as? String }.min())
        #expect(first >= "2024-01-01T00:00:00.000Z")
    }

    @Test("The same events as the SparkPost batches, opens and clicks left out, in the same order")
    func sameEventsAsSparkPost() throws {
        let w = Fixtures.standard
        let lines = try Feed.lines(w.canonicalJSONL())
        let elements = Fixtures.standardElements.filter { $0.type != "open" && $0.type != "click" }
        #expect(lines.count == elements.count)
        let expectedKind: (Element) -> String = { e in
            switch e.type {
            case "injection": "relay"
            case "delivery": "delivered"
            case "delay": "retry"
            case "bounce" where e.bounceClass == 60: "autoReply"
            case "bounce" where e.fields["raw_reason"]?.contains("5.4.7") == true: "timeout"
            case "bounce", "out_of_band", "policy_rejection", "generation_rejection": "bounce"
            case "spam_complaint": "complaint"
            default: "unsubscribe"
            }
        }
        var p = Problems()
        for (line, e) in zip(lines, elements) {
            func context() -> String { "event \(e.eventId) (\(e.type))" }
            p.check(line["id"] as? String == e.eventId, "\(context())")
            p.check(line["kind"] as? String == expectedKind(e), "\(context())")
            p.check(line["delivery"] as? String == e.fields["campaign_id"], "\(context())")
            p.check(line["recipient"] as? String == e.fields["rcpt_to"], "\(context())")
            let instant = line["occurredAt"] as? String ?? ""
            p.check(Feed.epochSeconds(rfc3339: instant) == e.timestamp, "\(context()): \(instant)")
            if let c = e.bounceClass, e.type != "generation_rejection" { p.check(line["bounceClass"] as? Int == c, "\(context())") }
            if let code = e.fields["error_code"] { p.check(line["smtpCode"] as? Int == Int(code), "\(context())") }
            if let raw = e.fields["raw_reason"] { p.check(line["response"] as? String == raw, "\(context())") }
            if let retries = e.fields["num_retries"] { p.check(line["attempt"] as? Int == Int(retries), "\(context())") }
            switch e.type {
            case "bounce" where expectedKind(e) == "bounce":
                p.check(line["final"] as? Bool == true && line["inBand"] as? Bool == true, "\(context())")
            case "out_of_band":
                p.check(line["final"] as? Bool == true && line["inBand"] as? Bool == false, "\(context())")
            case "policy_rejection", "generation_rejection":
                p.check(line["final"] as? Bool == true && line["beforeRelay"] as? Bool == true, "\(context())")
            default:
                p.check(line["inBand"] == nil && line["beforeRelay"] == nil, "\(context())")
            }
        }
        #expect(p.isEmpty, "\(p.summary)")
    }

    @Test("Failures carry the bounce-class qualification (domain.md §5.2)")
    func qualifications() throws {
        let table: [Int: (String, String)] = [
            10: ("hard", "userUnknown"), 20: ("soft", "unreachable"), 21: ("soft", "invalidDomain"),
            22: ("soft", "mailboxFull"), 24: ("soft", "unreachable"), 25: ("hard", "addressInQuarantine"),
            50: ("soft", "refused"), 51: ("soft", "refused"), 70: ("soft", "unreachable"),
        ]
        var p = Problems()
        var checked = 0
        for line in try Feed.lines(Fixtures.standard.canonicalJSONL()) {
            guard let kind = line["kind"] as? String, ["bounce", "retry", "timeout"].contains(kind) else {
                p.check(line["failureType"] == nil, "\(line)")
                continue
            }
            if let c = line["bounceClass"] as? Int {
                p.check(table[c].map { line["failureType"] as? String == $0.0 && line["failureReason"] as? String == $0.1 } == true,
                        "class \(c): \(line)")
                checked += 1
            } else {
                // generation_rejection: no class, qualified as SparkPost's Admin category (class 25).
                p.check(line["beforeRelay"] as? Bool == true && line["failureType"] as? String == "hard"
                        && line["failureReason"] as? String == "addressInQuarantine", "\(line)")
            }
            if kind == "retry" { p.check(line["failureType"] as? String != "hard", "\(line)") }
        }
        #expect(p.isEmpty, "\(p.summary)")
        #expect(checked > 1_000)
    }

    @Test("Generated lines of every shape are valid against Schemas/canonical-event.schema.json")
    func generatedLinesMatchSchema() throws {
        let w = Fixtures.twoDeliveries
        // Every shape (kind, fields, bounce class), up to 25 lines each: python's validator takes
        // about a third of a millisecond per line.
        var sample: [UInt8] = w.deliveryDeclarationsJSONL()
        var perShape: [String: Int] = [:]
        let all = w.canonicalJSONL()
        let objects = try Feed.lines(all)
        for (object, line) in zip(objects, all.split(separator: UInt8(ascii: "\n"))) {
            let shape = object.keys.sorted().joined(separator: ",") + "|\(object["kind"] ?? "")|\(object["bounceClass"] ?? "")"
            perShape[shape, default: 0] += 1
            if perShape[shape]! <= 25 { sample += line + [UInt8(ascii: "\n")] }
        }
        #expect(perShape.count >= 15)
        let errors = try SchemaValidation.validate(jsonLines: sample, schemaNamed: "canonical-event")
        #expect(errors.isEmpty, "\(errors.prefix(5))")
    }
}
