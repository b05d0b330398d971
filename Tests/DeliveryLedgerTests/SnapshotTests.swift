import DeliveryLedger
import Foundation
import LedgerTestSupport
import Synchronization
import Testing

/// Answers of several parts read from one snapshot (``Ledger/kpis(deliveries:at:)``,
/// ``Ledger/statuses(delivery:recipients:at:includeEvents:matching:_:)``,
/// ``Ledger/statusPage(delivery:offset:limit:)``) while a writer appends: every part describes the
/// basis's log position. Each event here is the relay of a new recipient of `d1` (and `d2`), so at
/// log position P the two deliveries hold P messages between them, all relayed (Sent in classic,
/// Taken into account in EFS: domain.md §3) — what each answer must say, whatever the timing. A
/// tester found the classic and EFS rows of `GET /api/deliveries?semantics=both`, and a filtered
/// page's total and basis, describing different positions under load when each was its own read.
@Suite struct SnapshotTests {
    @Test(arguments: [false, true]) func partsOfOneAnswerDescribeOnePosition(background: Bool) throws {
        var options = LedgerOptions()
        options.checkpointRecords = 300
        options.checkpointSeconds = .infinity
        options.checkpointsInBackground = background
        let t = try TestLedger(options: options)
        let factories = [EventFactory(delivery: "d1"), EventFactory(delivery: "d2")]
        try t.ledger.append([factories[0].relay("r0@example.com", at: 0), factories[1].relay("r1@example.com", at: 0)])
        final class Shared: Sendable {
            let stop = Atomic(false)
            let errors = Mutex<[String]>([])
        }
        let shared = Shared()
        let writer = Thread {
            var n = 2
            for k in 0..<150 where !shared.stop.load(ordering: .relaxed) {
                let batch = (0..<40).map { i in factories[(n + i) % 2].relay("r\(n + i)@example.com", at: Int64(k)) }
                n += batch.count
                do { try t.ledger.append(batch) } catch { shared.errors.withLock { $0.append("append: \(error)") } }
            }
            shared.stop.store(true, ordering: .relaxed)
        }
        writer.start()
        defer { shared.stop.store(true, ordering: .relaxed) }
        let future = TimeBounds(asOf: Instant(rfc3339: "2031-01-01T00:00:00Z")!)
        var reads = 0
        while !shared.stop.load(ordering: .relaxed) || reads < 20 {
            reads += 1
            for bounds in [TimeBounds(), future] {
                let (rows, basis) = try t.ledger.kpis(at: bounds)
                #expect(rows.map(\.delivery) == ["d1", "d2"])
                let relayed = rows.map { $0.classic.relayed + $0.efs.relayed }.reduce(0, +)
                #expect(relayed == 2 * Int64(basis.position), "\(bounds): \(rows.map { ($0.classic.relayed, $0.efs.relayed) }) at position \(basis.position)")
                #expect(rows.allSatisfy { $0.classic.sent == $0.efs.takenIntoAccount && $0.classic.toDeliver == $0.efs.toDeliver })
            }
            // The sending logs of d1: every recipient (a scan) and a page with its total.
            var seen = 0
            let basis = try #require(try t.ledger.statuses(delivery: "d1", at: TimeBounds()) { report in
                if report.classic.status == .sent && report.efs.status == .takenIntoAccount { seen += 1 }
                return true
            })
            let d1 = try #require(try t.ledger.kpis(deliveries: ["d1"], at: TimeBounds()).rows.first).classic.relayed
            #expect(Int64(seen) <= d1)  // d1 read later: never fewer
            #expect(seen == Int((basis.position + 1) / 2), "\(seen) recipients of d1 at position \(basis.position)")
            let page = try #require(try t.ledger.statusPage(delivery: "d1", offset: 0, limit: 10))
            #expect(page.total == Int((page.basis.position + 1) / 2), "total \(page.total) at position \(page.basis.position)")
            #expect(page.reports.count == min(10, page.total) && page.reports.allSatisfy { $0.basis == page.basis })
        }
        #expect(shared.errors.withLock { $0 }.isEmpty, "\(shared.errors.withLock { $0 })")
        // A search: only matching recipients are read.
        var found: [String] = []
        _ = try t.ledger.statuses(delivery: "d2", at: TimeBounds(), matching: { $0.hasPrefix("r11") }) { found.append($0.recipient); return true }
        // d2 holds the odd-numbered recipients r1 … r6001 (150 batches of 40 after r0 and r1), in byte order.
        let d2 = stride(from: 1, through: 6_001, by: 2).map { "r\($0)@example.com" }
        #expect(found == d2.filter { $0.hasPrefix("r11") }.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) })
        #expect(try t.ledger.statuses(delivery: "nope", at: TimeBounds()) { _ in true } == nil)
    }
}
