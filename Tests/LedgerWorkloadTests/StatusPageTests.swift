import DeliveryLedger
import LedgerIngest
import LedgerTestSupport
import LedgerWorkload
import Testing

/// The sending logs filtered by status (``Ledger/statusPage(delivery:semantics:status:offset:limit:)``):
/// the total read from the delivery's counters and the page from a walk that stops when full give
/// what reading every recipient's status gives (the reference: each recipient's status, filtered,
/// in byte order) — on the generated workload's realistic delivery, with part of it checkpointed
/// and part in the in-memory tail.
@Suite struct StatusPageTests {
    @Test func filteredPagesAndTotalsEqualAFullRead() throws {
        let workload = Workload(spec: WorkloadSpec(deliveries: 1, recipientsPerDelivery: 1_200, seed: 11))
        var options = LedgerOptions()
        options.checkpointRecords = 1_000  // checkpoints along the way: persisted states and a tail
        options.checkpointSeconds = .infinity
        let t = try TestLedger(options: options)
        try t.ledger.append(FeedReader.read(workload.deliveryDeclarationsJSONL(), file: "declarations", options: IngestOptions(format: .jsonl)).events)
        try workload.forEachSparkPostBatch { batch in
            try t.ledger.append(FeedReader.read(batch, file: "batch", options: IngestOptions(format: .sparkpost)).events)
            t.clock.advance(seconds: 1)  // each batch recorded at its own instant: known-at bounds select batches
        }
        #expect(try t.ledger.projectionInfo().checkpoint > 0)
        let delivery = try #require(try t.ledger.deliveries().first)
        // Time bounds: instants within the delivery's events (valid time) and the recording instant
        // of a position in the middle of the log (transaction time).
        var occurred: [Instant] = []
        var recorded: [UInt64: Instant] = [:]
        try t.ledger.forEachEvent { r in
            occurred.append(r.event.occurredAt)
            recorded[r.position] = r.recordedAt
            return true
        }
        occurred.sort()
        let middle = try #require(recorded[UInt64(recorded.count / 2)])
        #expect(Set(recorded.values).count > 5)  // 9 batches
        let boundsList = [TimeBounds(), TimeBounds(asOf: occurred[occurred.count / 10]), TimeBounds(asOf: occurred[occurred.count / 2]),
                          TimeBounds(knownAt: middle), TimeBounds(asOf: occurred[occurred.count / 2], knownAt: middle)]
        var nonEmpty = 0
        for bounds in boundsList {
            var all: [MessageStatusReport] = []
            _ = try t.ledger.statuses(delivery: delivery, at: bounds) { all.append($0); return true }
            #expect(bounds.asOf != nil || bounds.knownAt != nil || all.count > 1_000)
            for semantics in [Semantics.classic, .efs] {
                for status in [nil, MessageStatus.pending, .sent, .takenIntoAccount, .failed] {
                    let expected = all.filter { s in status.map { s.view(semantics).status == $0 } ?? true }.map(\.recipient)
                    if !expected.isEmpty { nonEmpty += 1 }
                    for offset in [0, 7, max(0, expected.count - 3), expected.count + 5] {
                        let page = try #require(try t.ledger.statusPage(delivery: delivery, semantics: semantics, status: status, at: bounds,
                                                                        offset: offset, limit: 10))
                        let what = "\(bounds), \(semantics), \(status.map { "\($0)" } ?? "any") at \(offset)"
                        #expect(page.total == expected.count, "\(what)")
                        #expect(page.reports.map(\.recipient) == Array(expected.dropFirst(offset).prefix(10)), "\(what)")
                        #expect(page.reports.allSatisfy { r in status.map { r.view(semantics).status == $0 } ?? true })
                    }
                }
            }
        }
        // An address search (the dashboard's, a case-insensitive substring), alone and with a
        // status filter and time bounds: the total counts every match within the filter.
        for bounds in [TimeBounds(), boundsList[2]] {
            var all: [MessageStatusReport] = []
            _ = try t.ledger.statuses(delivery: delivery, at: bounds) { all.append($0); return true }
            for (needle, status) in [("gmail", nil), ("o", MessageStatus.failed), ("zzz-none", nil)] as [(String, MessageStatus?)] {
                let expected = all.filter { r in r.recipient.lowercased().contains(needle) && (status.map { r.view(.efs).status == $0 } ?? true) }.map(\.recipient)
                for offset in [0, 7, max(0, expected.count - 3)] {
                    let page = try #require(try t.ledger.statusPage(delivery: delivery, semantics: .efs, status: status, at: bounds,
                                                                    search: needle.uppercased(), offset: offset, limit: 10))
                    #expect(page.total == expected.count, "\(needle) \(bounds)")
                    #expect(page.reports.map(\.recipient) == Array(expected.dropFirst(offset).prefix(10)), "\(needle) \(bounds) at \(offset)")
                }
                if needle == "gmail" { #expect(!expected.isEmpty) }
            }
        }
        #expect(nonEmpty >= 25)  // most statuses at most bounds have recipients
        #expect(try t.ledger.statusPage(delivery: "nope", semantics: .efs, status: .failed, offset: 0, limit: 10) == nil)
    }
}
