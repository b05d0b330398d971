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

    struct File {
        var bytes: [UInt8]
        let pageSize: Int
        init(_ path: String) throws {
            bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path + "/data.mdb")))
            pageSize = Int(Self.u32(bytes, 40))
        }
        func u16(_ at: Int) -> Int { Int(bytes[at]) | Int(bytes[at + 1]) << 8 }
        func u64(_ at: Int) -> UInt64 { (0..<8).reduce(UInt64(0)) { $0 | UInt64(bytes[at + $1]) << (8 * UInt64($1)) } }
        mutating func put64(_ value: UInt64, at: Int) { for i in 0..<8 { bytes[at + i] = UInt8(truncatingIfNeeded: value >> (8 * UInt64(i))) } }
        /// The newest meta page's index.
        var newest: Int { u64(144) > u64(pageSize + 144) ? 0 : 1 }
        /// Offset of table `name`'s `MDB_db` record in the main database's (single) leaf page.
        func record(of name: String) throws -> Int {
            let meta = newest * pageSize
            try #require(u16(meta + 94) == 1, "the main database is one leaf page deep")
            let page = Int(u64(meta + 128)) * pageSize
            for slot in stride(from: page + 16, to: page + u16(page + 12), by: 2) {
                let node = page + u16(slot), keySize = u16(node + 6)
                if Array(bytes[(node + 8)..<(node + 8 + keySize)]) == Array(name.utf8) { return node + 8 + keySize }
            }
            throw CLIUnreachable(what: "no table \(name)")
        }
        func write(_ path: String) throws { try Data(bytes).write(to: URL(fileURLWithPath: path + "/data.mdb")) }
        static func u32(_ b: [UInt8], _ at: Int) -> UInt32 { (0..<4).reduce(0) { $0 | UInt32(b[at + $1]) << (8 * $1) } }
    }
    struct CLIUnreachable: Error { var what: String }

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
