@testable import DeliveryLedger
import Foundation
import LMDBKit
import LedgerTestSupport
import Testing

/// Issue 12 (damage named at open, private files, bounded re-ingest receipts, backups) and issue
/// 10's read-only opens, at the library's level.
@Suite struct ReliabilityTests {
    @Test("a damaged ledger's message sends to verify, which tells projection damage (reproject mends it) from log damage (a backup)")
    func damagedMessageNamesTheWayOut() {
        let message = LedgerError.damaged(path: "/srv/ledger", what: "messageState entry 12 does not decode").description
        #expect(message.contains("messageState entry 12 does not decode. Nothing was written to it."))
        #expect(message.contains("`ledger verify --db /srv/ledger`"))
        #expect(message.contains("`ledger reproject --db /srv/ledger` rebuilds it from the log"))
        #expect(message.contains("a damaged log needs a backup (see `ledger backup`)"))
    }

    let f = EventFactory()

    /// A ledger with two deliveries' worth of events, written and closed.
    func writtenLedger(_ dir: TemporaryDirectory, durable: Bool = false) throws -> String {
        let path = dir.path("l.lmdb")
        var options = LedgerOptions()
        options.durable = durable
        let ledger = try Ledger(path: path, options: options)
        try ledger.append([f.declare(toDeliver: 3), f.relay("a@example.com", at: 0), f.delivered("a@example.com", at: 1),
                           f.relay("b@example.com", at: 0), f.hardBounce("b@example.com", at: 2),
                           f.relay("c@example.com", at: 0), f.softBounce("c@example.com", at: 3)])
        return path
    }

    func readOnly() -> LedgerOptions {
        var o = LedgerOptions()
        o.readOnly = true
        o.createIfMissing = false
        return o
    }

    /// Every query answers on a read-only open, whose environment refuses any write transaction
    /// (`MDB_RDONLY`): had a query begun one, it would have failed. The file is unchanged.
    @Test func everyQueryAnswersOnAReadOnlyOpenAndTheFileIsUnchanged() throws {
        let dir = TemporaryDirectory()
        let path = try writtenLedger(dir)
        let before = try Data(contentsOf: URL(fileURLWithPath: path + "/data.mdb"))
        let ledger = try Ledger(path: path, options: readOnly())
        #expect(ledger.environment.isReadOnly)
        let kpis = try ledger.kpis(delivery: "d1", semantics: .classic)
        #expect(kpis?.toDeliver == 3 && kpis?.failed == 1)
        #expect(try ledger.status(delivery: "d1", recipient: "b@example.com")?.classic.status == .failed)
        #expect(try ledger.events(delivery: "d1", recipient: "c@example.com").count == 2)
        #expect(try ledger.kpis(delivery: "d1", semantics: .efs, at: TimeBounds(asOf: EventFactory.at(1)))?.kpis.failed == 0)
        _ = try ledger.audit(delivery: "d1", now: EventFactory.at(60))
        _ = try ledger.timeline(delivery: "d1", bucketSeconds: 60)
        _ = try ledger.addresses()
        _ = try ledger.quarantined()
        #expect(try ledger.verify().isHealthy)
        #expect(try ledger.basis().position == 7)
        // The environment itself refuses writes: a write would have made the queries above fail.
        #expect(throws: LedgerError.self) { try ledger.append([f.relay("d@example.com", at: 5)]) }
        #expect(throws: LedgerError.self) { try ledger.rebuildProjection() }
        #expect(try Data(contentsOf: URL(fileURLWithPath: path + "/data.mdb")) == before)
    }

    /// A read-only open never rebuilds: a projection built with another rule table is an error
    /// naming `ledger reproject`.
    @Test func aReadOnlyOpenThatNeedsARebuildSaysReproject() throws {
        let dir = TemporaryDirectory()
        let path = try writtenLedger(dir)
        // Reset the layout through a writable open, then ask read-only.
        do {
            let writer = try Ledger(path: path)
            try writer.environment.write { txn in try txn.put(writer.tables.meta, key: Tables.layoutKey, value: Key.u64(0)) }
        }
        #expect { try Ledger(path: path, options: readOnly()) } throws: { error in
            "\(error)".contains("ledger reproject") && "\(error)".contains("only reads")
        }
    }

    @Test func newLedgersArePrivate() throws {
        let dir = TemporaryDirectory()
        let path = try writtenLedger(dir)
        func mode(_ p: String) throws -> Int { (try FileManager.default.attributesOfItem(atPath: p)[.posixPermissions] as? Int) ?? -1 }
        #expect(try mode(path) == 0o700)
        #expect(try mode(path + "/data.mdb") == 0o600)
        #expect(try mode(path + "/lock.mdb") == 0o600)
        // Creation leaves no temporary directory behind.
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.url.path) == ["l.lmdb"])
    }

    /// A directory that lost its data file, or whose data file was emptied, is never a new ledger.
    @Test func aLedgerThatLostItsDataIsRefusedNeverRecreated() throws {
        let dir = TemporaryDirectory()
        let path = try writtenLedger(dir)
        try Data().write(to: URL(fileURLWithPath: path + "/data.mdb"))
        #expect { try Ledger(path: path) } throws: { error in
            guard case let .damaged(p, what) = error as? LedgerError else { return false }
            return p == path && what.contains("empty (0 bytes)")
        }
        try FileManager.default.removeItem(atPath: path + "/data.mdb")
        // lock.mdb still there: a ledger whose data file was lost (damaged, restore a backup).
        #expect { try Ledger(path: path) } throws: { error in
            guard case let .damaged(p, what) = error as? LedgerError else { return false }
            return p == path && what.contains("data file was lost")
        }
        // Neither file: a directory that is not a ledger (not called damaged), still never recreated.
        try FileManager.default.removeItem(atPath: path + "/lock.mdb")
        #expect { try Ledger(path: path) } throws: { error in
            guard case let .cannotOpen(p, reason) = error as? LedgerError else { return false }
            return p == path && reason.contains("not a ledger") && reason.contains("holds no data.mdb")
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: path).isEmpty)
    }

    /// A truncated data file and swapped meta pages are named at open, before LMDB maps the file
    /// (a truncated file read through the map ends the process with SIGBUS).
    @Test func truncationAndSwappedMetaPagesAreNamedAtOpen() throws {
        let dir = TemporaryDirectory()
        let path = try writtenLedger(dir)
        let file = URL(fileURLWithPath: path + "/data.mdb")
        let original = try Data(contentsOf: file)
        let summary = try DataFileSummary.inspect(path: file.path)
        #expect(summary.usedBytes <= original.count && summary.pageSize == 4096)
        try original.prefix(summary.usedBytes - summary.pageSize).write(to: file)
        #expect { try Ledger(path: path) } throws: { error in
            guard case let .damaged(p, what) = error as? LedgerError else { return false }
            return p == path && what.contains("truncated") && what.contains("data.mdb")
        }
        var swapped = original
        swapped.replaceSubrange(0..<4096, with: original[4096..<8192])
        swapped.replaceSubrange(4096..<8192, with: original[0..<4096])
        try swapped.write(to: file)
        #expect { try Ledger(path: path, options: readOnly()) } throws: { error in "\(error)".contains("swapped") }
        try original.write(to: file)
        #expect(try Ledger(path: path).verify().isHealthy)
    }

    /// Re-sending the same events keeps one receipt summary per event, updated in place: the
    /// duplicates table does not grow with the third re-ingest, and audit still says how many
    /// times, first and last when.
    @Test func reIngestsUpdateBoundedReceiptsInPlace() throws {
        let t = try TestLedger(start: EventFactory.at(10))
        let events = (0..<600).flatMap { i in [f.relay("r\(i)@example.com", at: 0), f.delivered("r\(i)@example.com", at: 1)] }
        try t.ledger.append(events)
        func entries() throws -> (count: Int, bytes: Int) {
            try t.ledger.environment.read { txn in
                let s = try txn.statistics(t.ledger.tables.duplicates)
                return (s.entries, s.bytes)
            }
        }
        var sizes: [(count: Int, bytes: Int)] = []
        for _ in 0..<3 {
            t.clock.advance(seconds: 60)
            #expect(try t.ledger.append(events).appended == 0)
            sizes.append(try entries())
        }
        // 1,200 re-sent events in chunks of 256 positions.
        #expect(sizes[0].count == (1200 + DuplicateReceipts.chunkSize - 1) / DuplicateReceipts.chunkSize)
        // The second re-ingest widens each summary once (a last-arrival offset); the third rewrites
        // the same entries at the same size.
        #expect(sizes[2].count == sizes[0].count && sizes[2].bytes == sizes[1].bytes, "\(sizes)")
        let received = try t.ledger.audit(delivery: "d1", now: EventFactory.at(20)).filter { $0.kind == .duplicateReceived }
        #expect(received.count == 1200)
        let first = EventFactory.at(10).adding(seconds: 60).rfc3339, last = EventFactory.at(10).adding(seconds: 180).rfc3339
        #expect(received.first?.detail == "received again 3 times, first at \(first), last at \(last) (no-op)")
        #expect(try t.ledger.verify().isHealthy)
    }

    /// The entries round-trip; any changed byte, a left-over byte, a receipt of none, a position
    /// twice or a first position not the key's is an error, never other counts or instants; entries
    /// written before the digest (no leading 0, no digest) still read, with the same checks.
    @Test func receiptSummariesRoundTrip() throws {
        let s = [DuplicateReceipts.Summary(original: 7, times: 1, first: Instant(millisecondsSinceEpoch: 5_000), last: Instant(millisecondsSinceEpoch: 5_000)),
                 DuplicateReceipts.Summary(original: 9, times: 4, first: Instant(millisecondsSinceEpoch: 4_000), last: Instant(millisecondsSinceEpoch: 90_000))]
        let key = Key.u32(1) + Key.u64(7)
        func decode(_ bytes: [UInt8], first: UInt64 = 7) throws -> [DuplicateReceipts.Summary] {
            try bytes.withUnsafeBytes { v in try key.withUnsafeBytes { try DuplicateReceipts.decode(v, first: first, key: $0) } }
        }
        let bytes = DuplicateReceipts.encode(s, first: 7, key: key)
        #expect(bytes.first == 0)
        #expect(try decode(bytes) == s)
        #expect(throws: CorruptRecordError.self) { try decode(Array(bytes.dropLast())) }
        for i in bytes.indices.dropFirst() {  // every changed byte after the marker
            var damaged = bytes
            damaged[i] ^= 0x21
            #expect(throws: CorruptRecordError.self) { try decode(damaged) }
        }
        let legacy = Array(bytes[1..<(bytes.count - 8)])
        #expect(try decode(legacy) == s)
        #expect(throws: CorruptRecordError.self) { try decode(legacy + [0]) }      // a byte left over
        let shifted = DuplicateReceipts.encode(s, first: 6, key: key)  // its first position, 7, is not its key's, 6
        #expect(throws: CorruptRecordError.self) { try decode(Array(shifted[1..<(shifted.count - 8)]), first: 6) }
        // A position twice (delta 0 after the first), a receipt of none.
        let twice = [DuplicateReceipts.Summary(original: 7, times: 1, first: s[0].first, last: s[0].first),
                     DuplicateReceipts.Summary(original: 7, times: 1, first: s[0].first, last: s[0].first)]
        #expect(throws: CorruptRecordError.self) { try decode(DuplicateReceipts.encode(twice, first: 7, key: key)) }
        let none = [DuplicateReceipts.Summary(original: 7, times: 0, first: s[0].first, last: s[0].first)]
        #expect(throws: CorruptRecordError.self) { try decode(DuplicateReceipts.encode(none, first: 7, key: key)) }
        #expect(throws: CorruptRecordError.self) { try decode(DuplicateReceipts.encode([], first: 7, key: key)) }
        // More receipts than an entry may count (a tester's 2^64 − 1 made audit's sum trap).
        let many = [DuplicateReceipts.Summary(original: 7, times: DuplicateReceipts.maximumTimes + 1, first: s[0].first, last: s[0].first)]
        #expect(throws: CorruptRecordError.self) { try decode(DuplicateReceipts.encode(many, first: 7, key: key)) }
    }

    /// A backup is a verified ledger answering the source's KPIs at the copy's basis; the
    /// destination must not exist.
    @Test func backupIsVerifiedAndAnswersTheSame() throws {
        let dir = TemporaryDirectory()
        let path = try writtenLedger(dir)
        let ledger = try Ledger(path: path)
        let report = try ledger.backup(to: dir.path("copy"))
        #expect(report.position == 7)
        let copy = try Ledger(path: dir.path("copy"), options: readOnly())
        #expect(try copy.verify().head == ledger.verify().head)
        for s in [Semantics.classic, .efs] {
            #expect(try copy.kpis(delivery: "d1", semantics: s) == ledger.kpis(delivery: "d1", semantics: s))
        }
        func mode(_ p: String) throws -> Int { (try FileManager.default.attributesOfItem(atPath: p)[.posixPermissions] as? Int) ?? -1 }
        #expect(try mode(dir.path("copy")) == 0o700 && mode(dir.path("copy/data.mdb")) == 0o600)
        #expect { try ledger.backup(to: dir.path("copy")) } throws: { "\($0)".contains("exists") }
    }

    /// A `DEST.partial-<pid>-<n>` left by a backup whose process died (killed, or ended by the
    /// map-fault handler on a damaged page) is removed by the next backup to `DEST`; one of a live
    /// process is left alone.
    @Test func abandonedPartialCopiesAreRemoved() throws {
        let dir = TemporaryDirectory()
        let path = try writtenLedger(dir)
        // The highest pid Linux gives is below 2^22: this one is not running.
        let dead = dir.path("copy.partial-4194304-1"), live = dir.path("copy.partial-\(getpid())-2")
        for d in [dead, live] {
            try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: false)
            #expect(FileManager.default.createFile(atPath: d + "/data.mdb", contents: Data([1, 2, 3])))
        }
        _ = try Ledger(path: path).backup(to: dir.path("copy"))
        #expect(!FileManager.default.fileExists(atPath: dead))
        #expect(FileManager.default.fileExists(atPath: live + "/data.mdb"))
    }

    /// `reproject` is one transaction: the generation moves by one and the log is untouched.
    @Test func reprojectionIsOneGeneration() throws {
        let dir = TemporaryDirectory()
        let path = try writtenLedger(dir)
        let ledger = try Ledger(path: path)
        let before = try ledger.projectionInfo()
        let info = try ledger.rebuildProjection()
        #expect(info.generation == before.generation + 1 && info.checkpoint == 7)
        #expect(try ledger.verify().isHealthy)
    }
}
