import Foundation
import LedgerWorkload
import Testing

@Suite("SparkPost webhook batches")
struct SparkPostBatchTests {
    static let groups: [String: String] = [
        "injection": "message_event", "delivery": "message_event", "delay": "message_event",
        "bounce": "message_event", "out_of_band": "message_event", "policy_rejection": "message_event",
        "spam_complaint": "message_event", "generation_rejection": "gen_event", "open": "track_event",
        "click": "track_event", "list_unsubscribe": "unsubscribe_event", "link_unsubscribe": "unsubscribe_event",
    ]

    static func isDigits(_ s: String?) -> Bool {
        guard let s, !s.isEmpty else { return false }
        return s.utf8.allSatisfy { $0 >= 48 && $0 <= 57 }
    }

    @Test("Every batch is a JSON array of msys elements (JSONSerialization)")
    func batchesAreJSON() throws {
        let batches = Fixtures.standardBatches
        #expect(batches.count == Fixtures.standard.batchCount)
        var total = 0
        for (i, batch) in batches.enumerated() {
            let parsed = try JSONSerialization.jsonObject(with: Data(batch))
            let array = try #require(parsed as? [[String: Any]], "batch \(i)")
            #expect(!array.isEmpty)
            total += array.count
        }
        #expect(total == Fixtures.standard.elementCount)
        #expect(Fixtures.standardElements.count == total)
    }

    @Test("Every element has the documented fields, numbers as strings")
    func documentedFields() throws {
        let elements = Fixtures.standardElements
        try #require(!elements.isEmpty)
        let deliveryIds = Set(Fixtures.standard.deliveryIds)
        var p = Problems()
        for e in elements {
            let f = e.fields
            func context() -> String { "event \(e.eventId) (\(e.type))" }
            p.check(Self.groups[e.type] == e.group, "\(context()): group \(e.group)")
            p.check(Self.isDigits(f["event_id"]), "\(context()): event_id")
            p.check(Self.isDigits(f["timestamp"]), "\(context()): timestamp must be epoch seconds as a string")
            p.check(deliveryIds.contains(f["campaign_id"] ?? ""), "\(context()): campaign_id")
            p.check(Self.isDigits(f["transmission_id"]), "\(context()): transmission_id")
            let messageId = f["message_id"] ?? ""
            p.check(messageId.count == 20 && messageId.allSatisfy(\.isHexDigit), "\(context()): message_id")
            let rcpt = try #require(f["rcpt_to"], "\(context()): rcpt_to")
            p.check(rcpt == rcpt.lowercased(), "\(context()): rcpt_to lower case")
            p.check(f["raw_rcpt_to"]?.lowercased() == rcpt, "\(context()): raw_rcpt_to")
            p.check(f["routing_domain"] == String(rcpt.split(separator: "@").last ?? ""), "\(context()): routing_domain")
            p.check(f["sending_ip"]?.split(separator: ".").count == 4, "\(context()): sending_ip")
            p.check(f["friendly_from"]?.contains("@") == true, "\(context()): friendly_from")
            p.check(f["subject"]?.isEmpty == false, "\(context()): subject")
            p.check(e.structuredFields.isSuperset(of: ["rcpt_tags", "rcpt_meta"]), "\(context()): rcpt_tags, rcpt_meta")

            let isAutoReply = e.type == "bounce" && e.bounceClass == 60
            switch e.type {
            case "delay", "bounce", "out_of_band", "policy_rejection":
                p.check(Self.isDigits(f["bounce_class"]), "\(context()): bounce_class")
                if !isAutoReply { p.check(Self.isDigits(f["error_code"]), "\(context()): error_code") }
                p.check(f["reason"]?.isEmpty == false && f["raw_reason"]?.isEmpty == false, "\(context()): reason, raw_reason")
            case "generation_rejection":
                p.check(f["bounce_class"] == nil, "\(context()): gen_event carries no bounce_class")
                p.check(f["error_code"] == "554" && f["raw_reason"] != nil, "\(context()): error_code, raw_reason")
            default:
                p.check(f["bounce_class"] == nil && f["reason"] == nil, "\(context()): no failure fields")
            }
            if e.type == "delivery" || e.type == "delay" || (e.type == "bounce" && !isAutoReply) {
                p.check(Self.isDigits(f["num_retries"]), "\(context()): num_retries")
                p.check(Self.isDigits(f["queue_time"]), "\(context()): queue_time")
            }
        }
        #expect(p.isEmpty, "\(p.summary)")
    }

    @Test("Every event type and group of a real feed appears")
    func typeCoverage() {
        let types = Set(Fixtures.standardElements.map(\.type))
        #expect(types == Set(Self.groups.keys))
        let classes = Set(Fixtures.standardElements.compactMap(\.bounceClass))
        #expect(classes.isSuperset(of: [10, 20, 21, 22, 24, 25, 50, 51, 60, 70]))
    }

    @Test("Response texts are the real ones, masked in reason and raw in raw_reason")
    func responseTexts() throws {
        let elements = Fixtures.standardElements
        let raw = elements.compactMap { $0.fields["raw_reason"] }
        let expected = [
            "451 4.7.1 Greylisting in action, please come back later",
            "421 4.7.0 [TSS04] Messages from ",
            "452 4.2.2 The email account that you tried to reach is over quota",
            "454 4.4.4 [internal] no MX or A for domain",
            "550-5.1.1 The email account that you tried to reach does not exist. Please try\r\n550-5.1.1 double-checking",
            "550 5.5.0 Requested action not taken: mailbox unavailable",
            "554 delivery error: dd This user doesn't have a yahoo",
            ": Recipient address rejected: User unknown in virtual mailbox table",
            "554 5.7.1 Service unavailable; Client host [",
            "554 5.4.7 [internal] message timeout (last transfail: 452 4.2.2",
            "554 5.4.7 [internal] exceeded max time without delivery",
            "554 5.7.1 recipient address suppressed due to customer policy",
        ]
        for text in expected {
            #expect(raw.contains { $0.contains(text) }, "no raw_reason containing \(text.debugDescription)")
        }
        var p = Problems()
        for e in elements {
            guard let reason = e.fields["reason"], let rawReason = e.fields["raw_reason"] else { continue }
            if let ip = e.fields["sending_ip"], rawReason.contains(ip) {
                p.check(!reason.contains(ip) && reason.contains("a.b.c.d"), "reason must mask the IP: \(reason)")
            }
            if let rcpt = e.fields["rcpt_to"], rawReason.contains(rcpt) {
                p.check(!reason.contains(rcpt) && reason.contains("...@..."), "reason must mask the address: \(reason)")
            }
        }
        #expect(p.isEmpty, "\(p.summary)")
        // Non-ASCII, quotes and backslashes survive the hand-written escaping.
        let subjects = Set(elements.compactMap { $0.fields["subject"] })
        #expect(!subjects.isEmpty)
        #expect(raw.contains { $0.contains("R\u{e9}ponse automatique") && $0.contains("\"urgent\"") })
    }

    @Test("event_ids are unique except for duplicates, which repeat the element byte for byte")
    func eventIdsAndDuplicates() throws {
        var p = Problems()
        var firstBytes: [String: [UInt8]] = [:]
        var firstBatch: [String: Int] = [:]
        for e in Fixtures.standardElements {
            if let bytes = firstBytes[e.eventId] {
                p.check(bytes == e.bytes, "event \(e.eventId): a duplicate must be the same element")
                let gap = e.batch - firstBatch[e.eventId]!
                p.check((0...2).contains(gap), "event \(e.eventId): duplicate \(gap) batches later")
            } else {
                firstBytes[e.eventId] = e.bytes
                firstBatch[e.eventId] = e.batch
            }
        }
        #expect(p.isEmpty, "\(p.summary)")
        #expect(firstBytes.count == Fixtures.standard.distinctEventCount)
        // Distinct events have distinct contents too (no accidental collisions).
        #expect(Set(firstBytes.values).count == firstBytes.count)
    }

    @Test("About 5 % duplicates and 10 % late events", arguments: [Fixtures.standard, Fixtures.twoDeliveries])
    func imperfections(workload: Workload) throws {
        let elements = try Fixtures.elements(of: workload)
        let distinct = workload.distinctEventCount
        let duplicates = elements.count - distinct
        let duplicateShare = Double(duplicates) / Double(distinct)
        #expect(abs(duplicateShare - workload.spec.duplicateRate) <= tolerance(share: workload.spec.duplicateRate, count: distinct),
                "duplicates: \(duplicateShare)")

        // Natural order = event_id order (ids increase with time); an event is late when its first
        // copy arrives in a later batch than its rank says.
        let ids = Set(elements.map(\.eventId)).compactMap { UInt64($0) }.sorted()
        #expect(ids.count == distinct)
        let rank = Dictionary(uniqueKeysWithValues: ids.enumerated().map { ($1, $0) })
        var seen = Set<String>()
        var late = 0
        var arrivedAfterLaterTimestamp = 0
        var maxTimestampOfEarlierBatches: Int64 = .min, maxInBatch: Int64 = .min, batch = 0
        for e in elements {
            if e.batch != batch {
                maxTimestampOfEarlierBatches = max(maxTimestampOfEarlierBatches, maxInBatch)
                batch = e.batch
            }
            maxInBatch = max(maxInBatch, e.timestamp)
            guard seen.insert(e.eventId).inserted else { continue }
            let naturalBatch = rank[UInt64(e.eventId)!]! / workload.spec.eventsPerBatch
            if e.batch > naturalBatch { late += 1 }
            if e.timestamp < maxTimestampOfEarlierBatches { arrivedAfterLaterTimestamp += 1 }
        }
        let lateShare = Double(late) / Double(distinct)
        #expect(abs(lateShare - workload.spec.outOfOrderRate) <= tolerance(share: workload.spec.outOfOrderRate, count: distinct),
                "late: \(lateShare)")
        #expect(arrivedAfterLaterTimestamp > 0, "some events must arrive after events with later timestamps")
    }

    @Test("Without imperfections, batches are in time order and hold eventsPerBatch events")
    func perfectFeed() throws {
        let w = Workload(spec: WorkloadSpec(recipientsPerDelivery: 1_500, duplicateRate: 0, outOfOrderRate: 0, eventsPerBatch: 100))
        let elements = try Feed.elements(of: w.sparkPostBatches())
        #expect(elements.count == w.distinctEventCount)
        #expect(Set(elements.map(\.eventId)).count == elements.count)
        #expect(zip(elements, elements.dropFirst()).allSatisfy { $0.timestamp <= $1.timestamp })
        #expect(zip(elements, elements.dropFirst()).allSatisfy { UInt64($0.eventId)! < UInt64($1.eventId)! })
        #expect(w.batchCount == (w.distinctEventCount + 99) / 100)
        let sizes = Dictionary(grouping: elements, by: \.batch).values.map(\.count)
        #expect(sizes.filter { $0 != 100 }.count <= 1)
    }

    @Test("Edge specs: no recipients, one event per batch, every element duplicated")
    func edgeSpecs() throws {
        let empty = Workload(spec: WorkloadSpec(deliveries: 3, recipientsPerDelivery: 0))
        #expect(empty.sparkPostBatches().isEmpty && empty.canonicalJSONL().isEmpty && empty.scenarios().isEmpty)
        #expect(try Feed.lines(empty.deliveryDeclarationsJSONL()).count == 3)
        let none = Workload(spec: WorkloadSpec(deliveries: 0))
        #expect(none.deliveryDeclarationsJSONL().isEmpty && none.batchCount == 0)

        let single = Workload(spec: WorkloadSpec(recipientsPerDelivery: 200, duplicateRate: 1, outOfOrderRate: 0, eventsPerBatch: 1))
        let elements = try Feed.elements(of: single.sparkPostBatches())
        #expect(elements.count == 2 * single.distinctEventCount)
        #expect(Set(elements.map(\.eventId)).count == single.distinctEventCount)
    }
}
