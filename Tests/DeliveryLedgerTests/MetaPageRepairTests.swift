@testable import DeliveryLedger
import Foundation
import LMDBKit
import LedgerTestSupport
import Testing

/// `Ledger.mendMetaPage`: one damaged LMDB meta page is mended from the other, which names a whole
/// tree (LMDB writes a commit's meta page over the older one, after its pages; the older tree's
/// pages are reused only after the next commit).
@Suite struct MetaPageRepairTests {
    let f = EventFactory()

    /// Two appends, each its own commit(s); the ledger is closed when this returns.
    func twoAppends(_ dir: TemporaryDirectory) throws -> (path: String, first: [Event], second: [Event]) {
        let path = dir.path("l.lmdb")
        let first = [f.declare(toDeliver: 2), f.relay("a@example.com", at: 0), f.delivered("a@example.com", at: 1)]
        let second = [f.relay("b@example.com", at: 0), f.hardBounce("b@example.com", at: 2)]
        let ledger = try Ledger(path: path)
        try ledger.append(first)
        try ledger.append(second)
        try ledger.checkpoint()
        return (path, first, second)
    }

    /// Overwrites 4 bytes at `offset` of the data file (a real write to the real file).
    func damage(_ path: String, at offset: UInt64, with bytes: [UInt8] = [0xFF, 0xFE, 0xFD, 0xFC]) throws {
        let file = try FileHandle(forUpdating: URL(fileURLWithPath: path + "/data.mdb"))
        try file.seek(toOffset: offset)
        try file.write(contentsOf: Data(bytes))
        try file.close()
    }

    func metaPage(_ path: String, _ index: Int) throws -> Data {
        let data = try Data(contentsOf: URL(fileURLWithPath: path + "/data.mdb"))
        let size = Int(sysconf(Int32(_SC_PAGESIZE)))
        return data.subdata(in: index * size..<(index + 1) * size)
    }

    /// Transaction id of meta page `index` (`mm_txnid`, byte 144, little-endian).
    func transaction(_ path: String, _ index: Int) throws -> UInt64 {
        let page = try metaPage(path, index)
        return (0..<8).reduce(UInt64(0)) { $0 | UInt64(page[144 + $1]) << (8 * UInt64($1)) }
    }

    @Test(arguments: [0, 1])
    func eitherMetaPageIsMendedFromTheOther(damaged index: Int) throws {
        let dir = TemporaryDirectory()
        let (path, first, second) = try twoAppends(dir)
        let sound = 1 - index
        let soundTransaction = try transaction(path, sound)
        let newestWasDamaged = try transaction(path, index) > soundTransaction
        let pageSize = UInt64(sysconf(Int32(_SC_PAGESIZE)))
        try damage(path, at: UInt64(index) * pageSize + 16)  // its magic number
        let damagedBytes = try metaPage(path, index)
        #expect { try Ledger(path: path) } throws: { "\($0)".contains("meta page \(index) has no LMDB magic number") && "\($0)".contains("ledger repair") }

        let plan = try #require(try Ledger.mendMetaPage(path: path, dryRun: true))
        #expect(plan.damagedPage == index && plan.transactionID == soundTransaction && plan.savedCopy == nil)
        #expect(try metaPage(path, index) == damagedBytes)  // a dry run writes nothing

        let mend = try #require(try Ledger.mendMetaPage(path: path))
        #expect(mend.damagedPage == index && mend.transactionID == soundTransaction)
        // The damaged bytes are kept; the page now holds the sound one's tree, one transaction higher.
        let saved = try #require(mend.savedCopy)
        #expect(try Data(contentsOf: URL(fileURLWithPath: saved)) == damagedBytes)
        #expect(try transaction(path, index) == soundTransaction + 1)
        #expect(try Ledger.mendMetaPage(path: path) == nil)

        let ledger = try Ledger(path: path)
        #expect(try ledger.verify().isHealthy)
        // The sound page's commit is the ledger now: every appended event when the older page was
        // damaged; when the newest was (a torn last commit), a prefix, and appending both batches
        // again completes it without a conflict (idempotency).
        let basis = try ledger.basis().position
        if !newestWasDamaged { #expect(basis == 5) } else { #expect(basis <= 5) }
        _ = try ledger.append(first)
        _ = try ledger.append(second)
        #expect(try ledger.basis().position == 5)
        #expect(try ledger.kpis(delivery: "d1", semantics: .classic)?.failed == 1)
        #expect(try ledger.verify().isHealthy)
    }

    @Test func soundMetaPagesNeedNoMend() throws {
        let dir = TemporaryDirectory()
        let (path, _, _) = try twoAppends(dir)
        let before = try Data(contentsOf: URL(fileURLWithPath: path + "/data.mdb"))
        #expect(try Ledger.mendMetaPage(path: path) == nil)
        #expect(try Data(contentsOf: URL(fileURLWithPath: path + "/data.mdb")) == before)
    }

    @Test func bothMetaPagesDamagedIsABackupsJob() throws {
        let dir = TemporaryDirectory()
        let (path, _, _) = try twoAppends(dir)
        let pageSize = UInt64(sysconf(Int32(_SC_PAGESIZE)))
        try damage(path, at: 16)
        try damage(path, at: pageSize + 16)
        let before = try Data(contentsOf: URL(fileURLWithPath: path + "/data.mdb"))
        #expect { try Ledger.mendMetaPage(path: path) } throws: { "\($0)".contains("both meta pages are damaged") && "\($0)".contains("backup") }
        #expect(try Data(contentsOf: URL(fileURLWithPath: path + "/data.mdb")) == before)
    }

    /// While another process holds LMDB's lock (byte 0 of lock.mdb, as every process with the
    /// environment open does), nothing is written.
    @Test func aLedgerOpenInAnotherProcessIsNotTouched() throws {
        let dir = TemporaryDirectory()
        let (path, _, _) = try twoAppends(dir)
        try damage(path, at: 16)
        let before = try Data(contentsOf: URL(fileURLWithPath: path + "/data.mdb"))
        // A real other process takes LMDB's shared lock on lock.mdb's first byte and holds it.
        let holder = Process()
        holder.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        holder.arguments = ["python3", "-c", """
            import fcntl, sys, time
            f = open(sys.argv[1], 'r+b'); fcntl.lockf(f, fcntl.LOCK_SH, 1, 0, 0); print('locked', flush=True); time.sleep(30)
            """, path + "/lock.mdb"]
        let out = Pipe()
        holder.standardOutput = out
        try holder.run()
        defer { kill(holder.processIdentifier, SIGKILL); holder.waitUntilExit() }
        let line = String(decoding: out.fileHandleForReading.availableData, as: UTF8.self)
        try #require(line.contains("locked"), "the lock holder did not start: \(line)")
        #expect { try Ledger.mendMetaPage(path: path) } throws: { "\($0)".contains("another process has this ledger open") }
        #expect(try Data(contentsOf: URL(fileURLWithPath: path + "/data.mdb")) == before)
    }
}

/// A table whose entry in LMDB's table directory is lost is damage for every open: a writer never
/// creates it anew and writes nothing (found by a tester: with the table directory damaged, ingest
/// created the tables again and appended to a ledger that `verify` called damaged).
@Suite struct LostTableTests {
    let f = EventFactory()

    @Test(arguments: ["validBuckets", "log", "tailStreams"])
    func aLostTableIsDamageAndNothingIsWritten(_ table: String) throws {
        let dir = TemporaryDirectory()
        let path = dir.path("l.lmdb")
        do {
            let ledger = try Ledger(path: path)
            try ledger.append([f.declare(toDeliver: 1), f.relay("a@example.com", at: 0)])
            try ledger.checkpoint()
            // The table's directory entry goes (mdb_drop with del 1), as a damaged entry would.
            try ledger.environment.write { txn in
                let db = try txn.openDatabase(named: table, flags: [])
                try txn.drop(db)
            }
        }
        let before = try Data(contentsOf: URL(fileURLWithPath: path + "/data.mdb"))
        var readOnly = LedgerOptions()
        readOnly.readOnly = true
        readOnly.createIfMissing = false
        for options in [LedgerOptions(), readOnly] {
            #expect { try Ledger(path: path, options: options) } throws: { "\($0)".contains("\(table)") && "\($0)".contains("is missing") }
        }
        #expect(try Data(contentsOf: URL(fileURLWithPath: path + "/data.mdb")) == before)
    }
}

/// A declared count beyond the counters' range (2^48) is refused, not stored capped (found by a
/// tester: `toDeliver` 2^63 − 1 was accepted and `project` showed 2^48).
@Test func aDeclaredCountBeyondTheCountersRangeIsRefused() throws {
    let f = EventFactory()
    #expect(throws: Never.self) { try f.declare(toDeliver: 1 << 48).validate() }
    for count: Int64 in [(1 << 48) + 1, .max] {
        #expect { try f.declare(toDeliver: count).validate() } throws: { ($0 as? EventValidationError)?.field == "toDeliver" }
    }
}
