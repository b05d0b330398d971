import DeliveryLedger
import Foundation
import LedgerTestSupport
import LMDBKit
import Testing

/// Tamper evidence: `verify` passes on a healthy ledger and names the position after one byte is changed.
@Suite struct VerifyTests {
    let f = EventFactory()

    func makeLedger(_ dir: TemporaryDirectory) throws {
        var options = LedgerOptions()
        options.durable = false
        let ledger = try Ledger(path: dir.path("l.lmdb"), options: options)
        try ledger.append([f.declare(toDeliver: 3), f.relay("a@example.com", at: 0), f.relay("b@example.com", at: 0)])
        try ledger.append([f.delivered("a@example.com", at: 1), f.hardBounce("b@example.com", at: 2), f.relay("c@example.com", at: 3)])
        try ledger.append([f.softBounce("c@example.com", at: 4)])
        let report = try ledger.verify()
        #expect(report.isHealthy, "\(report.problems)")
        #expect(report.records == 7 && report.head.count == 64)
    }

    @Test(arguments: [1, 4, 7] as [UInt64])
    func oneChangedByteIsFoundAtItsPosition(position: UInt64) throws {
        let dir = TemporaryDirectory()
        try makeLedger(dir)
        // Change one byte of the stored record with LMDB itself, as a raw tool would.
        do {
            let env = try Environment(path: dir.path("l.lmdb"))
            let log = try env.openDatabase(named: "log", flags: [])
            var key = [UInt8](repeating: 0, count: 8)
            for i in 0..<8 { key[i] = UInt8(truncatingIfNeeded: position >> UInt64(56 - 8 * i)) }
            try env.write { txn in
                var value = try #require(try txn.get(log, key: key))
                value[value.count - 1] ^= 0x01  // the last byte: inside the raw source bytes or a string
                try txn.put(log, key: key, value: value)
            }
        }
        var options = LedgerOptions()
        options.durable = false
        let ledger = try Ledger(path: dir.path("l.lmdb"), options: options)
        let report = try ledger.verify()
        #expect(!report.isHealthy)
        #expect(report.problems.first?.position == position, "\(report.problems)")
    }

    @Test func aProjectionThatDisagreesWithTheLogIsFound() throws {
        let dir = TemporaryDirectory()
        try makeLedger(dir)
        do {
            let env = try Environment(path: dir.path("l.lmdb"))
            let counters = try env.openDatabase(named: "deliveryCounters", flags: [])
            try env.write { txn in try txn.clear(counters) }
        }
        let ledger = try Ledger(path: dir.path("l.lmdb"))
        let report = try ledger.verify()
        #expect(report.problems.contains { $0.what.contains("no persisted KPI counters") }, "\(report.problems)")
    }
}
