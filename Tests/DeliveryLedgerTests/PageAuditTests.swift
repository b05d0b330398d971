@testable import DeliveryLedger
import Foundation
import LMDBKit
import LedgerTestSupport
import Testing

/// LMDB's own structure, checked where LMDB trusts it (found by a tester: a table's root overwritten
/// with another table's page, a root past the last page or a `MDB_DUPSORT` bit set in LMDB's table
/// directory passed `verify`, and writers wrote; a newest meta page's transaction id lowered by two
/// silently opened the commit before). Damage is written to the real file, at the offsets LMDB 0.9's
/// layout gives (`mdb.c`: meta page fields at 80/128/136/144; a leaf node's 8-byte header, then the
/// key, then the 48-byte `MDB_db` whose root is at byte 40 and flags at byte 4).
@Suite struct PageAuditTests {
    let f = EventFactory()

    /// A ledger with events in several tables, checkpointed, closed.
    func ledger(_ dir: TemporaryDirectory) throws -> String {
        let path = dir.path("l.lmdb")
        let ledger = try Ledger(path: path)
        var events = [f.declare(toDeliver: 300)]
        for i in 0..<300 {
            events.append(f.relay("r\(i)@example.com", at: 0))
            events.append(i % 3 == 0 ? f.hardBounce("r\(i)@example.com", at: 5) : f.delivered("r\(i)@example.com", at: 5))
        }
        try ledger.append(Array(events[..<301]))
        try ledger.append(Array(events[301...]))
        try ledger.checkpoint()
        return path
    }

    typealias File = LMDBFile

    @Test func aSoundLedgerAddsUp() throws {
        let dir = TemporaryDirectory()
        let path = try ledger(dir)
        let ledger = try Ledger(path: path)
        let audit = try ledger.environment.auditPages()
        #expect(audit.problems.isEmpty, "\(audit.problems)")
        #expect(Set(audit.tables.map(\.name)) == Set(Tables.names + Tables.addedNames))
        // Every page from 2 on is a table's or free: with the main database's own pages and the
        // free-page database's, they make up the file's pages in use.
        #expect(audit.tables.first { $0.name == "log" }?.entries == 601)
        #expect(try ledger.verify().isHealthy)
    }

    /// A table's root overwritten with another table's root: LMDB reads the other table's records
    /// without an error; the walk finds the page claimed twice.
    @Test func aRootPointingIntoAnotherTableIsDamage() throws {
        let dir = TemporaryDirectory()
        let path = try ledger(dir)
        var file = try File(path)
        let log = try file.record(of: "log"), hashes = try file.record(of: "hashes")
        file.put64(file.u64(hashes + 40), at: log + 40)
        try file.write(path)
        let ledger = try Ledger(path: path, options: { var o = LedgerOptions(); o.readOnly = true; return o }())
        #expect { try ledger.verify() } throws: {
            guard case let LedgerError.damaged(_, what) = $0 else { return false }
            return what.contains("LMDB's pages do not add up") && what.contains("already belongs to table")
        }
    }

    @Test func aRootPastTheLastPageOrAFlippedFlagIsRefusedAtOpenAndNothingIsWritten() throws {
        for damage in ["root", "flags"] {
            let dir = TemporaryDirectory()
            let path = try ledger(dir)
            var file = try File(path)
            let record = try file.record(of: "streams")
            if damage == "root" {
                file.put64(file.u64(file.newest * file.pageSize + 136) + 100, at: record + 40)
            } else {
                file.bytes[record + 4] |= 0x04  // MDB_DUPSORT
            }
            try file.write(path)
            let before = try Data(contentsOf: URL(fileURLWithPath: path + "/data.mdb"))
            #expect { try Ledger(path: path) } throws: {
                let text = "\($0)"
                return text.contains("table streams") && text.contains(damage == "root" ? "outside the pages in use" : "flags 0x4")
            }
            #expect(try Data(contentsOf: URL(fileURLWithPath: path + "/data.mdb")) == before)
        }
    }

    /// The newest meta page's transaction id lowered by two stays consecutive with the other and in
    /// its page: LMDB would open the older commit. Its tree's free-page list names a later
    /// transaction; repair mends it from the other page, and appending again completes the ledger.
    @Test func aTransactionIdLoweredByTwoIsFoundAndMended() throws {
        let dir = TemporaryDirectory()
        let path = try ledger(dir)
        var file = try File(path)
        let newest = file.newest, id = file.u64(newest * file.pageSize + 144)
        file.put64(id - 2, at: newest * file.pageSize + 144)
        try file.write(path)
        #expect { try Ledger(path: path) } throws: { "\($0)".contains("meta page \(newest) says it is transaction \(id - 2)") }
        let mend = try #require(try Ledger.mendMetaPage(path: path))
        #expect(mend.damagedPage == newest && mend.transactionID == id - 1 && !mend.swapped)
        let ledger = try Ledger(path: path)
        #expect(try ledger.verify().isHealthy)
        #expect(try ledger.environment.auditPages().problems.isEmpty)
    }

    /// The older meta page's transaction id raised by two: consecutive and in its page still, and LMDB
    /// would open the older commit as the newest (found by a tester: the last commit's events were
    /// gone while `verify` passed). Its tree is the smaller: named, and mended with nothing lost.
    @Test func anOlderTransactionIdRaisedByTwoIsFoundAndMendedWithNothingLost() throws {
        let dir = TemporaryDirectory()
        let path = try ledger(dir)
        var file = try File(path)
        let older = 1 - file.newest, newestID = file.u64(file.meta(file.newest, 144))
        file.put64(file.u64(file.meta(older, 144)) + 2, at: file.meta(older, 144))
        try file.write(path)
        #expect { try Ledger(path: path) } throws: { "\($0)".contains("meta page \(older) says it is transaction \(newestID + 1), the newest") }
        let mend = try #require(try Ledger.mendMetaPage(path: path))
        #expect(mend.damagedPage == older && mend.transactionID == newestID)
        let ledger = try Ledger(path: path)
        #expect(try ledger.basis().position == 601)  // the newest commit is there
        #expect(try ledger.verify().isHealthy)
    }

    /// The same, forged further: the older tree's newest free-page record re-keyed to the newest
    /// commit, so that the trees' sizes and free-page lists no longer contradict the ids (found by a
    /// tester). The newer commit's own record must list the older tree's table directory, which it
    /// copied and freed; the forged one has no record under its id.
    @Test func aForgedRollbackIsFoundAndMendedWithNothingLost() throws {
        let dir = TemporaryDirectory()
        let path = try ledger(dir)
        var file = try File(path)
        let newest = file.newest, older = 1 - newest
        let newestID = file.u64(file.meta(newest, 144)), olderID = file.u64(file.meta(older, 144))
        file.put64(olderID + 2, at: file.meta(older, 144))
        // As if the last commit had not grown the file (the usual case): the older tree's last page
        // made the newest's, so that the sizes do not tell them apart either.
        file.put64(file.u64(file.meta(newest, 136)), at: file.meta(older, 136))
        let freeRoot = Int(file.u64(file.meta(older, 80))) * file.pageSize
        try #require(file.u16(freeRoot + 10) & 0x02 != 0, "the older tree's free-page database is one leaf")
        let last = freeRoot + file.u16(freeRoot + 16 + 2 * ((file.u16(freeRoot + 12) - 16) / 2 - 1))
        try #require(file.u16(last + 6) == 8)
        file.put64(newestID, at: last + 8)
        try file.write(path)
        #expect { try Ledger(path: path) } throws: { "\($0)".contains("does not list as freed the table directory of transaction \(newestID)") }
        let mend = try #require(try Ledger.mendMetaPage(path: path))
        #expect(mend.damagedPage == older && mend.transactionID == newestID)
        let ledger = try Ledger(path: path)
        #expect(try ledger.basis().position == 601)
        #expect(try ledger.verify().isHealthy)
    }

    /// Two node offsets swapped in a leaf: keys out of order, so LMDB's searches miss records while
    /// every page is where it should be (found by a tester: `verify` passed, `status` said "no events").
    @Test func keysOutOfOrderAreDamage() throws {
        let dir = TemporaryDirectory()
        let path = try ledger(dir)
        var file = try File(path)
        let leaf = try file.leftmostLeaf(of: "log") * file.pageSize
        let (a, b) = (leaf + 16 + 2 * 3, leaf + 16 + 2 * 4)
        (file.bytes[a], file.bytes[a + 1], file.bytes[b], file.bytes[b + 1]) = (file.bytes[b], file.bytes[b + 1], file.bytes[a], file.bytes[a + 1])
        try file.write(path)
        let ledger = try Ledger(path: path, options: { var o = LedgerOptions(); o.readOnly = true; return o }())
        #expect { try ledger.verifyStructure() } throws: { "\($0)".contains("table log") && "\($0)".contains("keys out of order") }
    }

    /// A free-page list that names a page in use: a write would allocate it and destroy its records
    /// (found by a tester: `sweep` overwrote a log page). `verifyStructure()`, which every writing
    /// command runs first, names it.
    @Test func aFreeListNamingAPageInUseIsDamage() throws {
        let dir = TemporaryDirectory()
        let path = try ledger(dir)
        var file = try File(path)
        let leaf = try file.leftmostLeaf(of: "log")
        let freeRoot = Int(file.u64(file.meta(file.newest, 80))) * file.pageSize
        try #require(file.u16(freeRoot + 10) & 0x02 != 0, "the free-page database is one leaf")
        let node = freeRoot + file.u16(freeRoot + 16)
        try #require(file.u16(node + 4) & 0x01 == 0, "its first list is inline")
        let list = node + 8 + file.u16(node + 6)
        try #require(file.u64(list) >= 1)
        file.put64(UInt64(leaf), at: list + 8)
        try file.write(path)
        let ledger = try Ledger(path: path, options: { var o = LedgerOptions(); o.readOnly = true; return o }())
        #expect { try ledger.verifyStructure() } throws: { "\($0)".contains("page \(leaf) (listed free) already belongs to table log") }
    }

    /// A free-page list out of its descending order: LMDB takes runs of consecutive pages from it by
    /// position, so it would hand out pages in use (found by a tester: an append overwrote a log page).
    @Test func aFreePageListOutOfOrderIsDamage() throws {
        let dir = TemporaryDirectory()
        let path = try ledger(dir)
        var file = try File(path)
        let freeRoot = Int(file.u64(file.meta(file.newest, 80))) * file.pageSize
        try #require(file.u16(freeRoot + 10) & 0x02 != 0, "the free-page database is one leaf")
        let lists = stride(from: freeRoot + 16, to: freeRoot + file.u16(freeRoot + 12), by: 2).compactMap { slot -> Int? in
            let node = freeRoot + file.u16(slot)
            let list = node + 8 + file.u16(node + 6)
            return file.u16(node + 4) & 0x01 == 0 && file.u64(list) >= 2 ? list : nil
        }
        let list = try #require(lists.first, "an inline list of two pages or more")
        let (first, second) = (file.u64(list + 8), file.u64(list + 16))
        file.put64(second, at: list + 8)
        file.put64(first, at: list + 16)
        try file.write(path)
        let ledger = try Ledger(path: path, options: { var o = LedgerOptions(); o.readOnly = true; return o }())
        #expect { try ledger.verifyStructure() } throws: { "\($0)".contains("is not in descending order") }
    }

    /// Meta pages in each other's place are swapped back: nothing is lost.
    @Test func swappedMetaPagesAreSwappedBack() throws {
        let dir = TemporaryDirectory()
        let path = try ledger(dir)
        let original = try File(path)
        var file = original
        let size = file.pageSize
        file.bytes.replaceSubrange(0..<(2 * size), with: Array(original.bytes[size..<(2 * size)]) + Array(original.bytes[0..<size]))
        try file.write(path)
        #expect { try Ledger(path: path) } throws: { "\($0)".contains("swapped") }
        let mend = try #require(try Ledger.mendMetaPage(path: path))
        #expect(mend.swapped && mend.savedCopy == nil)
        #expect(try File(path).bytes == original.bytes)
        let ledger = try Ledger(path: path)
        #expect(try ledger.basis().position == 601)
        #expect(try ledger.verify().isHealthy)
    }

    /// A file truncated below both meta pages' trees cannot be mended: both problems are named.
    @Test func aFileTruncatedBelowBothTreesNamesBoth() throws {
        let dir = TemporaryDirectory()
        let path = try ledger(dir)
        var file = try File(path)
        // Cut inside the smaller of the two trees: its last page goes.
        let keep = Int(min(file.u64(136), file.u64(file.pageSize + 136))) * file.pageSize
        file.bytes.removeSubrange(keep...)
        try file.write(path)
        #expect { try Ledger.mendMetaPage(path: path) } throws: {
            let text = "\($0)"
            return text.contains("meta page 0 (transaction") && text.contains("meta page 1 (transaction") && text.contains("truncated")
        }
    }
}
