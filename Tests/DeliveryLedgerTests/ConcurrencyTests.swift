import DeliveryLedger
import LedgerTestSupport
import Testing

/// One `Ledger` shared by concurrent tasks: appends are serialised, reads see consistent snapshots.
@Suite struct ConcurrencyTests {
    @Test func concurrentAppendsAndReads() async throws {
        let t = try TestLedger()
        let ledger = t.ledger
        let writers = 8, perWriter = 50
        try await withThrowingTaskGroup(of: Void.self) { group in
            for w in 0..<writers {
                group.addTask {
                    let f = EventFactory(delivery: "c")
                    for i in 0..<perWriter {
                        let r = "w\(w)-\(i)@example.com"
                        try ledger.append([f.relay(r, at: Int64(i)), f.delivered(r, at: Int64(i) + 1)])
                    }
                }
                group.addTask {
                    for _ in 0..<perWriter {
                        // Every snapshot is consistent: each message is relayed and delivered together,
                        // so under EFS nothing is ever "taken into account" without being delivered.
                        if let k = try ledger.kpis(delivery: "c", semantics: .efs) {
                            #expect(k.takenIntoAccount == 0)
                            #expect(k.delivered == k.toDeliver)
                        }
                    }
                }
            }
            try await group.waitForAll()
        }
        let k = try #require(try ledger.kpis(delivery: "c", semantics: .classic))
        #expect(k.delivered == Int64(writers * perWriter))
        #expect(try ledger.basis().position == UInt64(2 * writers * perWriter))
        var previous: UInt64 = 0
        try ledger.forEachEvent { r in
            #expect(r.position == previous + 1)
            previous = r.position
            return true
        }
    }
}
