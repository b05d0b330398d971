import DeliveryLedger
import LedgerTestSupport
import Testing

/// `Ledger.recipients(delivery:offset:limit:)` pages are slices of `recipients(delivery:)`, whether
/// the streams are in the checkpointed index, only in the in-memory tail, or both interleaved.
@Suite struct RecipientPagesTests {
    @Test(arguments: [false, true])
    func pagesAreSlicesOfTheWholeList(checkpointHalf: Bool) throws {
        var options = LedgerOptions()
        options.checkpointRecords = .max
        options.checkpointSeconds = .infinity
        let t = try TestLedger(options: options)
        let a = EventFactory(delivery: "d1"), b = EventFactory(delivery: "d2")
        // Distinct addresses in scattered order ((i × 7919) mod 1000, 7919 prime): the two appends interleave in byte order.
        let names = (0..<230).map { "r\(($0 * 7919) % 1000)@example.com" }
        try t.ledger.append([a.declare(toDeliver: 300)] + names[..<120].map { a.relay($0, at: 1) } + names.prefix(10).map { b.relay($0, at: 1) })
        if checkpointHalf { try t.ledger.checkpoint() }
        try t.ledger.append(names[120...].map { a.relay($0, at: 2) })
        let all = try t.ledger.recipients(delivery: "d1")
        #expect(all.count == 230)
        for (offset, limit) in [(0, 50), (50, 50), (100, 50), (200, 50), (229, 5), (230, 5), (0, 1000), (3, 7), (5, Int.max)] {
            let page = try t.ledger.recipients(delivery: "d1", offset: offset, limit: limit)
            #expect(page.total == 230)
            #expect(page.recipients == Array(all.dropFirst(offset).prefix(limit)), "offset \(offset) limit \(limit)")
        }
        #expect(try t.ledger.recipients(delivery: "d2", offset: 0, limit: 100).recipients == Array(names.prefix(10)).sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) })
        #expect(try t.ledger.recipients(delivery: "none", offset: 0, limit: 10).total == 0)
    }

    /// More new recipients in the tail than it keeps sorted (``Tail/FreshRecipients``, 2,000), added
    /// over several appends in scattered byte order: pages within the kept ones, across their end
    /// and beyond it are the same slices, and the total is the delivery's recipient count.
    @Test(arguments: [false, true])
    func pagesBeyondTheTailsKeptRecipients(checkpointFirst: Bool) throws {
        var options = LedgerOptions()
        options.checkpointRecords = .max
        options.checkpointSeconds = .infinity
        let t = try TestLedger(options: options)
        let a = EventFactory(delivery: "d1")
        // (i × 7919) mod 10007 (both prime): 5,000 distinct numbers in scattered order.
        let names = (0..<5_000).map { "r\(($0 * 7919) % 10_007)@example.com" }
        try t.ledger.append([a.declare(toDeliver: 5_000)] + names[..<1_000].map { a.relay($0, at: 1) })
        if checkpointFirst { try t.ledger.checkpoint() }
        for chunk in stride(from: 1_000, to: 5_000, by: 1_000) {
            try t.ledger.append(names[chunk..<(chunk + 1_000)].map { a.relay($0, at: 2) })
        }
        let all = try t.ledger.recipients(delivery: "d1")
        #expect(all.count == 5_000)
        // The expected order worked out apart: byte order of the UTF-8 addresses.
        #expect(all == names.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) })
        for (offset, limit) in [(0, 50), (1_950, 50), (1_990, 20), (2_000, 10), (2_500, 100), (4_990, 50), (0, 5_000), (4_999, 1), (5_000, 1)] {
            let page = try t.ledger.recipients(delivery: "d1", offset: offset, limit: limit)
            #expect(page.total == 5_000)
            #expect(page.recipients == Array(all.dropFirst(offset).prefix(limit)), "offset \(offset) limit \(limit)")
        }
    }
}
