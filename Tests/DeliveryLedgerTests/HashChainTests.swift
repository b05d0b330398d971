@testable import DeliveryLedger
import Crypto
import LedgerTestSupport
import LMDBKit
import Testing

/// The hash chain's layout (``HashChain``): one entry per append, with a digest per record; old
/// ledgers' entries (one per record) read as appends of one record; `verify` names the first bad
/// record, a rewritten entry, a missing one — each once, without a cascade of false reports.
@Suite struct HashChainTests {
    let f = EventFactory()

    /// Three appends: positions 1–3, 4–6 and 7 (``VerifyTests/makeLedger(_:checkpoint:)``, which
    /// also checks that the ledger verifies).
    func makeLedger(_ dir: TemporaryDirectory) throws {
        try VerifyTests().makeLedger(dir, checkpoint: false)
    }

    func open(_ dir: TemporaryDirectory) throws -> Ledger {
        var options = LedgerOptions()
        options.durable = false
        return try Ledger(path: dir.path("l.lmdb"), options: options)
    }

    /// Writes to the ledger's tables with LMDB itself, as a raw tool would (its `log`, `hashes` and
    /// `meta` tables given to `body`).
    func rewrite(_ dir: TemporaryDirectory, _ body: (borrowing Transaction, _ log: Database, _ hashes: Database, _ meta: Database) throws -> Void) throws {
        let env = try Environment(path: dir.path("l.lmdb"))
        let log = try env.openDatabase(named: "log", flags: [])
        let hashes = try env.openDatabase(named: "hashes", flags: [])
        let meta = try env.openDatabase(named: "meta", flags: [])
        try env.write { txn in try body(txn, log, hashes, meta) }
    }

    static func key(_ p: UInt64) -> [UInt8] { (0..<8).map { UInt8(truncatingIfNeeded: p >> UInt64(56 - 8 * $0)) } }

    /// The stored entries: key → value.
    func entries(_ dir: TemporaryDirectory) throws -> [(UInt64, [UInt8])] {
        let env = try Environment(path: dir.path("l.lmdb"))
        let hashes = try env.openDatabase(named: "hashes", flags: [])
        return try env.read { txn in
            var out: [(UInt64, [UInt8])] = []
            try txn.scan(hashes) { k, v in out.append((Key.readU64(k), Array(v))); return true }
            return out
        }
    }

    @Test func oneEntryPerAppendWithADigestPerRecord() throws {
        let dir = TemporaryDirectory()
        try makeLedger(dir)
        let stored = try entries(dir)
        #expect(stored.map(\.0) == [3, 6, 7])
        #expect(stored.map(\.1.count) == [32 + 3 * 8, 32 + 3 * 8, 32 + 8])
        // The heads, recomputed from the records by the definition (SHA-256 over the previous head,
        // the first position, each record with its length, the last position).
        let env = try Environment(path: dir.path("l.lmdb"))
        let log = try env.openDatabase(named: "log", flags: [])
        let records: [[UInt8]] = try env.read { txn in
            var out: [[UInt8]] = []
            try txn.scan(log) { _, v in out.append(Array(v)); return true }
            return out
        }
        var previous = [UInt8](repeating: 0, count: 32)
        for (range, (_, value)) in zip([1...3, 4...6, 7...7] as [ClosedRange<UInt64>], stored) {
            var h = SHA256()
            h.update(data: previous)
            h.update(data: Self.key(range.lowerBound))
            for p in range {
                let r = records[Int(p - 1)]
                h.update(data: (0..<4).map { UInt8(truncatingIfNeeded: UInt32(r.count) >> UInt32(24 - 8 * $0)) })
                h.update(data: r)
                // d(p) = FNV-1a 64 over the position and the record, big-endian in the entry.
                var fnv: UInt64 = 0xcbf29ce484222325
                for b in Self.key(p) + r { fnv = (fnv ^ UInt64(b)) &* 0x100000001b3 }
                let at = 32 + 8 * Int(p - range.lowerBound)
                #expect(Array(value[at..<(at + 8)]) == Self.key(fnv), "digest of \(p)")
            }
            h.update(data: Self.key(range.upperBound))
            let head = Array(h.finalize())
            #expect(Array(value.prefix(32)) == head, "head of \(range)")
            previous = head
        }
        #expect(try open(dir).verify().head == HashChain.hex(previous))
    }

    /// A record rewritten together with its digest (what a tamperer who knows the layout would do):
    /// the entry's head no longer matches, and the append's range is named.
    @Test func aRecordRewrittenWithItsDigestIsFoundByTheHead() throws {
        let dir = TemporaryDirectory()
        try makeLedger(dir)
        try rewrite(dir) { txn, log, hashes, _ in
            var record = try #require(try txn.get(log, key: Self.key(5)))
            record[record.count - 1] ^= 0x01
            try txn.put(log, key: Self.key(5), value: record)
            var entry = try #require(try txn.get(hashes, key: Self.key(6)))
            let d = record.withUnsafeBytes { HashChain.digest(position: 5, record: $0) }
            entry.replaceSubrange((32 + 8)..<(32 + 16), with: Self.key(d))
            try txn.put(hashes, key: Self.key(6), value: entry)
        }
        let report = try open(dir).verify()
        // The digest matches the new bytes: no record is named by it; the entry's head names the
        // append (the changed record also no longer decodes, which is named at its position).
        #expect(!report.problems.contains { $0.what.contains("hash chain mismatch") }, "\(report.problems)")
        let chainProblems = report.problems.filter { $0.what.contains("hash-chain entry") }
        #expect(chainProblems.map(\.position) == [4], "\(report.problems)")
        #expect(chainProblems.first?.what.contains("positions 4–6") == true, "\(report.problems)")
    }

    /// A missing entry is named at its first position, once: the next entry's records still check
    /// by their digests and nothing else is reported.
    @Test func aMissingEntryIsNamedOnce() throws {
        let dir = TemporaryDirectory()
        try makeLedger(dir)
        try rewrite(dir) { txn, _, hashes, _ in
            let deleted = try txn.delete(hashes, key: Self.key(3))
            #expect(deleted)
        }
        let report = try open(dir).verify()
        #expect(report.problems.map(\.position) == [1, 2, 3], "\(report.problems)")
        #expect(report.problems.allSatisfy { $0.what == "no hash-chain entry" })
    }

    @Test func anEntryOfTheWrongLengthIsReportedNotFatal() throws {
        let dir = TemporaryDirectory()
        try makeLedger(dir)
        try rewrite(dir) { txn, _, hashes, _ in try txn.put(hashes, key: Self.key(7), value: [UInt8](repeating: 1, count: 37)) }
        let report = try open(dir).verify()
        #expect(report.problems.first?.position == 7)
        #expect(report.problems.first?.what.contains("37 bytes") == true, "\(report.problems)")
    }

    /// A ledger of format 3 (an entry per record, `H(p) = SHA-256(H(p−1) ‖ p ‖ record)`) verifies
    /// as it is, takes appends that chain on from its head, and its damaged records are still named.
    @Test func aFormatThreeLedgerVerifiesAndChainsOn() throws {
        let dir = TemporaryDirectory()
        try makeLedger(dir)
        // Rewrite the chain as the previous format stored it, and mark the ledger format 3.
        try rewrite(dir) { txn, log, hashes, meta in
            try txn.clear(hashes)
            var chain = [UInt8](repeating: 0, count: 32)
            var records: [(UInt64, [UInt8])] = []
            try txn.scan(log) { k, v in records.append((Key.readU64(k), Array(v))); return true }
            for (p, r) in records {
                var h = SHA256()
                h.update(data: chain)
                h.update(data: Self.key(p))
                h.update(data: r)
                chain = Array(h.finalize())
                try txn.put(hashes, key: Self.key(p), value: chain)
            }
            try txn.put(meta, key: Array("format".utf8), value: Self.key(3))
        }
        #expect(try entries(dir).count == 7)
        let ledger = try open(dir)
        let before = try ledger.verify()
        #expect(before.isHealthy, "\(before.problems)")
        try ledger.append([f.delivered("c@example.com", at: 9), f.relay("d@example.com", at: 9)])
        let after = try ledger.verify()
        #expect(after.isHealthy, "\(after.problems)")
        #expect(try entries(dir).map(\.0) == [1, 2, 3, 4, 5, 6, 7, 9])
        // The writer marked the ledger with the current format (6: appends write their summaries,
        // ``AppendSummary``; 5: records of format 2, ``RawEncoding``).
        let env = try Environment(path: dir.path("l.lmdb"))
        let meta = try env.openDatabase(named: "meta", flags: [])
        #expect(try env.read { txn in try txn.get(meta, key: Array("format".utf8)) } == Self.key(6))
        // A damaged old record is named at its position, and only it.
        try rewrite(dir) { txn, log, _, _ in
            var record = try #require(try txn.get(log, key: Self.key(2)))
            record[record.count - 1] ^= 0x01
            try txn.put(log, key: Self.key(2), value: record)
        }
        let report = try ledger.verify()
        #expect(report.problems.first?.position == 2, "\(report.problems)")
        #expect(report.problems.filter { $0.what.contains("hash") }.map(\.position) == [2], "\(report.problems)")
    }
}
