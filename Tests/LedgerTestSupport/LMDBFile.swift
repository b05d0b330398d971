import Foundation

/// An LMDB data file's bytes, for tests that damage one at the offsets LMDB 0.9's layout gives
/// (`mdb.c`): meta pages 0 and 1 (page size at byte 40, free-page database's root at 80, main
/// database's root at 128, last page at 136, transaction id at 144); a page header of 16 bytes
/// (flags at 10, `mp_lower` at 12), then the nodes' offsets; a node's 8-byte header (`mn_lo`,
/// `mn_hi`, `mn_flags`, `mn_ksize`), then its key, then its data; a table's record (`MDB_db`, 48
/// bytes) in the main database's leaf: flags at 4, depth at 6, entries at 32, root at 40.
public struct LMDBFile {
    public var bytes: [UInt8]
    public let pageSize: Int

    /// Reads `directory`/data.mdb.
    public init(_ directory: String) throws {
        bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: directory + "/data.mdb")))
        pageSize = Int(bytes[40]) | Int(bytes[41]) << 8 | Int(bytes[42]) << 16 | Int(bytes[43]) << 24
    }

    public func u16(_ at: Int) -> Int { Int(bytes[at]) | Int(bytes[at + 1]) << 8 }
    public func u64(_ at: Int) -> UInt64 { (0..<8).reduce(UInt64(0)) { $0 | UInt64(bytes[at + $1]) << (8 * UInt64($1)) } }
    public mutating func put64(_ value: UInt64, at: Int) { for i in 0..<8 { bytes[at + i] = UInt8(truncatingIfNeeded: value >> (8 * UInt64(i))) } }

    /// The newest meta page's index (0 or 1).
    public var newest: Int { u64(144) > u64(pageSize + 144) ? 0 : 1 }

    /// Byte offset of meta page `index`'s field at `offset`.
    public func meta(_ index: Int, _ offset: Int) -> Int { index * pageSize + offset }

    /// Offset of table `name`'s `MDB_db` record in the main database's leaf (the main database must
    /// be one leaf page deep: a ledger's 14 tables are).
    public func record(of name: String) throws -> Int {
        let page = Int(u64(meta(newest, 128))) * pageSize
        guard u16(meta(newest, 94)) == 1 else { throw Failure(description: "the main database is not one leaf page deep") }
        for slot in stride(from: page + 16, to: page + u16(page + 12), by: 2) {
            let node = page + u16(slot), keySize = u16(node + 6)
            if Array(bytes[(node + 8)..<(node + 8 + keySize)]) == Array(name.utf8) { return node + 8 + keySize }
        }
        throw Failure(description: "no table \(name)")
    }

    /// The page number of table `name`'s leftmost leaf.
    public func leftmostLeaf(of name: String) throws -> Int {
        var page = Int(u64(try record(of: name) + 40))
        while u16(page * pageSize + 10) & 0x02 == 0 {  // a branch page: its first child
            let node = page * pageSize + u16(page * pageSize + 16)
            page = u16(node) | u16(node + 2) << 16 | u16(node + 4) << 32
        }
        return page
    }

    /// Writes the bytes back to `directory`/data.mdb.
    public func write(_ directory: String) throws {
        try Data(bytes).write(to: URL(fileURLWithPath: directory + "/data.mdb"))
    }

    public struct Failure: Error, CustomStringConvertible { public var description: String }
}
