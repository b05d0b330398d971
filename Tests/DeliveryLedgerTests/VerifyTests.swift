@testable import DeliveryLedger
import Foundation
import LedgerTestSupport
import LMDBKit
import Testing

/// Tamper evidence: `verify` passes on a healthy ledger and names the position after one byte is changed.
@Suite struct VerifyTests {
    let f = EventFactory()

    func makeLedger(_ dir: TemporaryDirectory, checkpoint: Bool = true) throws {
        var options = LedgerOptions()
        options.durable = false
        let ledger = try Ledger(path: dir.path("l.lmdb"), options: options)
        try ledger.append([f.declare(toDeliver: 3), f.relay("a@example.com", at: 0), f.relay("b@example.com", at: 0)])
        try ledger.append([f.delivered("a@example.com", at: 1), f.hardBounce("b@example.com", at: 2), f.relay("c@example.com", at: 3)])
        try ledger.append([f.softBounce("c@example.com", at: 4)])
        let report = try ledger.verify()
        #expect(report.isHealthy, "\(report.problems)")
        #expect(report.records == 7 && report.head.count == 64)
        if checkpoint {
            // The tests below damage the persisted projection tables: write them first.
            #expect(try ledger.checkpoint() == 7)
            #expect(try ledger.verify().isHealthy)
        }
    }

    /// With the records still in the tail (no checkpoint: the projection tables hold nothing) and
    /// after a checkpoint, the changed record is named first.
    @Test(arguments: [1, 2, 4, 5, 7] as [UInt64], [true, false])
    func oneChangedByteIsFoundAtItsPosition(position: UInt64, checkpoint: Bool) throws {
        let dir = TemporaryDirectory()
        try makeLedger(dir, checkpoint: checkpoint)
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

    /// A backup of a ledger that does not verify names the ledger, not the destination, as damaged,
    /// and keeps nothing (the copy holds the source's own records: its problem is the source's).
    @Test func aBackupOfADamagedLedgerNamesTheSourceAndKeepsNothing() throws {
        let dir = TemporaryDirectory()
        try makeLedger(dir, checkpoint: false)
        try tamper(dir, "log") { txn, log in
            let key: [UInt8] = [0, 0, 0, 0, 0, 0, 0, 4]
            var value = try #require(try txn.get(log, key: key))
            value[value.count - 1] ^= 0x01
            try txn.put(log, key: key, value: value)
        }
        var options = LedgerOptions()
        options.durable = false
        let ledger = try Ledger(path: dir.path("l.lmdb"), options: options)
        do {
            _ = try ledger.backup(to: dir.path("copy"))
            Issue.record("a backup of a ledger that does not verify was kept")
        } catch {
            guard case .damaged(let path, let what) = error else { Issue.record("expected damaged, got \(error)"); return }
            #expect(path == ledger.path, "\(error)")
            #expect(what.contains("the ledger does not verify, so no backup was kept") && what.contains("position 4"), "\(what)")
        }
        #expect(!FileManager.default.fileExists(atPath: dir.path("copy")))
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: dir.path("")).filter { $0.hasPrefix("copy.partial") }
        #expect(leftovers.isEmpty, "\(leftovers)")
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

    /// Changes the table `name` of the ledger in `dir` with LMDB itself, as a raw tool would.
    func tamper(_ dir: TemporaryDirectory, _ name: String, _ body: (borrowing Transaction, Database) throws -> Void) throws {
        let env = try Environment(path: dir.path("l.lmdb"))
        let db = try env.openDatabase(named: name, flags: [])
        try env.write { txn in try body(txn, db) }
    }

    /// The problems `verify` reports for the ledger in `dir`.
    func problems(_ dir: TemporaryDirectory) throws -> [String] {
        var options = LedgerOptions()
        options.durable = false
        return try Ledger(path: dir.path("l.lmdb"), options: options).verify().problems.map(\.what)
    }

    static func u32(_ v: UInt32) -> [UInt8] { [UInt8(v >> 24), UInt8(v >> 16 & 0xff), UInt8(v >> 8 & 0xff), UInt8(v & 0xff)] }

    @Test func aRenamedDeliveryOrdinalIsFound() throws {
        let dir = TemporaryDirectory()
        try makeLedger(dir)
        try tamper(dir, "deliveryNames") { txn, db in try txn.put(db, key: Self.u32(1), value: Array("d9".utf8)) }
        let found = try problems(dir)
        #expect(found.contains { $0.contains("delivery 'd1' has ordinal 1 in the deliveries table, but deliveryNames gives that ordinal 'd9'") }, "\(found)")
        #expect(found.contains { $0.contains("delivery ordinal 1 is named 'd9' in deliveryNames, but the deliveries table gives that id no ordinal") }, "\(found)")
    }

    @Test func aDeliveryOrdinalWithoutANameIsFound() throws {
        let dir = TemporaryDirectory()
        try makeLedger(dir)
        try tamper(dir, "deliveryNames") { txn, db in
            let removed = try txn.delete(db, key: Self.u32(1))
            #expect(removed)
        }
        let found = try problems(dir)
        #expect(found.contains { $0.contains("delivery ordinal 1 is used by a stream but has no name") }, "\(found)")
        #expect(found.contains { $0.contains("delivery 'd1' has ordinal 1 in the deliveries table, but deliveryNames gives that ordinal no name") }, "\(found)")
    }

    @Test func garbageInTheDeliveryTablesIsReportedNotFatal() throws {
        let dir = TemporaryDirectory()
        try makeLedger(dir)
        try tamper(dir, "deliveries") { txn, db in try txn.put(db, key: Array("d1".utf8), value: [0xff]) }
        try tamper(dir, "deliveryNames") { txn, db in try txn.put(db, key: [0x00, 0x07], value: [0xc3]) }
        let found = try problems(dir)
        #expect(found.contains { $0.contains("the deliveries table maps delivery 'd1' to 1 bytes (ff), not an ordinal") }, "\(found)")
        #expect(found.contains { $0.contains("the deliveryNames table has a key of 2 bytes (0007)") }, "\(found)")
    }

    @Test func anExtraMessageStateIsFound() throws {
        let dir = TemporaryDirectory()
        try makeLedger(dir)
        // States are packed 16 to an entry (StateBlock): stream 9,999 is slot 15 of block 624.
        try tamper(dir, "messageState") { txn, db in
            let (_, value) = try #require(try txn.last(db))
            let stored = try value.withUnsafeBytes { try StateBlock(bytes: $0) }
            var block = StateBlock()
            let present = stored.states.compactMap { $0 }
            try #require(!present.isEmpty)
            block.states[15] = present[0]
            try txn.put(db, key: Self.u32(624), value: block.bytes)
            try txn.put(db, key: [0x01], value: value)
            try txn.put(db, key: Self.u32(625), value: [0x00, 0x01, 0x7f])
            try txn.put(db, key: Self.u32(626), value: [0x00, 0x00])
            // 0x1000_0000 × 16 would wrap to stream 0 (found by a tester).
            try txn.put(db, key: Self.u32(0x1000_0000), value: value)
        }
        let found = try problems(dir)
        #expect(found.contains { $0.contains("status for stream 9999, which has no message event in the log") }, "\(found)")
        #expect(found.contains { $0.contains("the messageState table has a key of 1 bytes (01)") }, "\(found)")
        #expect(found.contains { $0.contains("the messageState block 625 does not decode") }, "\(found)")
        #expect(found.contains { $0.contains("the messageState block 626 is stored empty") }, "\(found)")
        #expect(found.contains { $0.contains("block 268435456, past the last possible stream ordinal") }, "\(found)")
    }

    @Test func aMessageStateForTheDeliveryStreamIsFound() throws {
        let dir = TemporaryDirectory()
        try makeLedger(dir)
        // Stream 1 is the delivery's own stream (its declaration): it has no message event. Its
        // slot in block 0 (streams 0…15) is empty; give it the state of another stream.
        try tamper(dir, "messageState") { txn, db in
            let value = try #require(try txn.get(db, key: Self.u32(0)))
            var block = try value.withUnsafeBytes { try StateBlock(bytes: $0) }
            #expect(block.states[1] == nil)
            let present = block.states.compactMap { $0 }
            try #require(!present.isEmpty)
            block.states[1] = present[0]
            try txn.put(db, key: Self.u32(0), value: block.bytes)
        }
        let found = try problems(dir)
        #expect(found.contains { $0.contains("status for stream 1, which has no message event in the log") }, "\(found)")
    }

    /// A problem of the persisted projection says so (the log is intact: a re-projection heals it);
    /// one of the indexes does not.
    @Test func projectionProblemsAreToldFromLogAndIndexProblems() throws {
        let dir = TemporaryDirectory()
        try makeLedger(dir)
        try tamper(dir, "messageState") { txn, db in
            let value = try #require(try txn.get(db, key: Self.u32(0)))
            var block = try value.withUnsafeBytes { try StateBlock(bytes: $0) }
            let present = block.states.compactMap { $0 }
            try #require(!present.isEmpty)
            block.states[1] = present[0]
            try txn.put(db, key: Self.u32(0), value: block.bytes)
        }
        var options = LedgerOptions()
        options.durable = false
        let ledger = try Ledger(path: dir.path("l.lmdb"), options: options)
        let found = try ledger.verify().problems
        #expect(!found.isEmpty && found.allSatisfy(\.inProjection), "\(found)")
        _ = try ledger.rebuildProjection()
        #expect(try ledger.verify().isHealthy)
        try tamper(dir, "streams") { txn, db in
            let (_, value) = try #require(try txn.last(db))
            try txn.put(db, key: Self.u32(99), value: value)
        }
        let index = try Ledger(path: dir.path("l.lmdb"), options: options).verify().problems
        #expect(index.contains { $0.what.contains("stream 99 (") && !$0.inProjection }, "\(index)")
    }

    @Test func anExtraStreamIsFound() throws {
        let dir = TemporaryDirectory()
        try makeLedger(dir)
        try tamper(dir, "streams") { txn, db in
            let (_, value) = try #require(try txn.last(db))
            try txn.put(db, key: Self.u32(99), value: value)
            try txn.put(db, key: Self.u32(100), value: [0xff])
        }
        let found = try problems(dir)
        #expect(found.contains { $0.contains("stream 99 (") && $0.contains("is in the streams table but has no record in the log") }, "\(found)")
        #expect(found.contains { $0.contains("the streams table entry of stream 100 does not decode") }, "\(found)")
    }

    /// The duplicate receipts are not in the log and are not rebuilt: `verify` checks that each names
    /// a recorded event of its delivery, received again at least once, no earlier than it was
    /// recorded and not in the future, in an entry that matches its digest — and names the entry that
    /// does not (it checked nothing of that table before); `audit` refuses to answer from it.
    @Test func damagedDuplicateReceiptsAreNamed() throws {
        let dir = TemporaryDirectory()
        var options = LedgerOptions()
        options.durable = false
        let other = EventFactory(delivery: "d2")
        let recordedAt: Instant
        do {
            let ledger = try Ledger(path: dir.path("l.lmdb"), options: options)
            try ledger.append([f.declare(toDeliver: 2), f.relay("a@example.com", at: 0), other.relay("z@example.com", at: 0)])
            recordedAt = try #require(try ledger.basis().recordedAt)
            try ledger.append([f.relay("a@example.com", at: 0)])  // received again: position 2 of 3, delivery ordinal 1
            #expect(try ledger.verify().isHealthy)
        }
        let at = recordedAt.millisecondsSinceEpoch
        func key(_ delivery: UInt32, _ first: UInt64) -> [UInt8] { Key.u32(delivery) + Key.u64(first) }
        func receipt(_ original: UInt64, times: UInt64, first: Int64, last: Int64) -> DuplicateReceipts.Summary {
            .init(original: original, times: times, first: Instant(millisecondsSinceEpoch: first), last: Instant(millisecondsSinceEpoch: last))
        }
        func entry(_ delivery: UInt32, _ receipts: [DuplicateReceipts.Summary]) -> (key: [UInt8], value: [UInt8]) {
            let k = key(delivery, receipts[0].original)
            return (k, DuplicateReceipts.encode(receipts, first: receipts[0].original, key: k))
        }
        let wrongDelivery = entry(2, [receipt(2, times: 1, first: at, last: at)])
        let early = entry(1, [receipt(2, times: 1, first: at - 60_000, last: at)])
        let future = entry(1, [receipt(2, times: 1, first: at, last: at + 10 * 365 * 86_400_000)])
        let outside = entry(1, [receipt(9, times: 1, first: at, last: at)])
        var flipped = entry(1, [receipt(2, times: 3, first: at, last: at)])
        flipped.value[3] ^= 0x01
        let cases: [(key: [UInt8], value: [UInt8], expected: String)] = [
            (key(1, 2), [0xFF], "the duplicates entry of delivery ordinal 1 at position 2 does not decode"),
            (wrongDelivery.key, wrongDelivery.value, "the duplicates entry of delivery ordinal 2 for position 2: the event there is of delivery ordinal 1"),
            (key(1, 2), DuplicateReceipts.encode([receipt(2, times: 0, first: at, last: at)], first: 2, key: key(1, 2)),
             "the duplicates entry of delivery ordinal 1 at position 2 does not decode: a duplicates entry counts no receipt of position 2"),
            (early.key, early.value, "the duplicates entry of delivery ordinal 1 for position 2 has receipts from"),
            (future.key, future.value, "the duplicates entry of delivery ordinal 1 for position 2 has receipts from"),
            (outside.key, outside.value, "the duplicates entry of delivery ordinal 1 for position 9 names a position outside the log 1…3"),
            (flipped.key, flipped.value, "the duplicates entry of delivery ordinal 1 at position 2 does not decode: a duplicates entry does not match its digest"),
            (Key.u32(1) + [0, 0], [0], "the duplicates entry of delivery ordinal 1 at position 0 does not decode: a key of 6 bytes"),
            (key(1, 2), DuplicateReceipts.encode([receipt(2, times: .max, first: at, last: at)], first: 2, key: key(1, 2)),
             "the duplicates entry of delivery ordinal 1 at position 2 does not decode: a duplicates entry counts 18446744073709551615 receipts"),
        ]
        for c in cases {
            let copy = TemporaryDirectory()
            try FileManager.default.copyItem(atPath: dir.path("l.lmdb"), toPath: copy.path("l.lmdb"))
            do {
                let env = try Environment(path: copy.path("l.lmdb"))
                let duplicates = try env.openDatabase(named: "duplicates", flags: [])
                try env.write { txn in
                    try txn.clear(duplicates)
                    try txn.put(duplicates, key: c.key, value: c.value)
                }
            }
            let ledger = try Ledger(path: copy.path("l.lmdb"), options: options)
            let report = try ledger.verify()
            #expect(report.problems.map(\.what).contains { $0.hasPrefix(c.expected) }, "\(c.expected): \(report.problems)")
            #expect(report.problems.allSatisfy { !$0.inProjection })
            // `audit` never answers from an entry `verify` calls damaged.
            #expect(throws: LedgerError.self, "\(c.expected)") {
                _ = try ledger.audit(delivery: c.key.prefix(4) == Key.u32(2)[...] ? "d2" : "d1", now: Instant(millisecondsSinceEpoch: at + 60_000))
            }
        }
    }

    /// A valid-time step or minute checkpoint whose value does not decode is the projection's damage:
    /// `verify` names its table and key (it said "LMDB's own structure … restore from a backup", a
    /// tester found), and a re-projection mends it.
    @Test(arguments: ["validSteps", "validBuckets"])
    func anUndecodableValidTimeEntryIsNamedAsTheProjections(_ table: String) throws {
        let dir = TemporaryDirectory()
        try makeLedger(dir, checkpoint: true)
        do {
            let env = try Environment(path: dir.path("l.lmdb"))
            let db = try env.openDatabase(named: table, flags: [])
            try env.write { txn in
                var first: ([UInt8], [UInt8])?
                try txn.scan(db) { k, v in first = (Array(k), Array(v)); return false }
                var (key, value) = try #require(first)
                value += [0xFF, 0xFF, 0xFF]  // bytes after the vector
                try txn.put(db, key: key, value: value)
                _ = key
            }
        }
        var options = LedgerOptions()
        options.durable = false
        let ledger = try Ledger(path: dir.path("l.lmdb"), options: options)
        let report = try ledger.verify()
        let named = report.problems.first { $0.what.contains("in table \(table) does not decode") }
        #expect(named?.inProjection == true, "\(report.problems)")
        _ = try ledger.rebuildProjection()
        #expect(try ledger.verify().isHealthy)
    }
}
