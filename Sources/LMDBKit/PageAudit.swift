#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Every page of an LMDB data file's tree, walked and accounted for: what LMDB itself never
/// checks (it trusts its file) and LMDB 0.9 ships no tool for (`mdb_chk` came later, in LMDB 1.0
/// and libmdbx).
///
/// LMDB's tree is an append-only B+tree: a commit's meta page names the roots of the free-page
/// database and of the main database, whose leaves hold each named table's record (`MDB_db`: flags,
/// depth, page and entry counts, root). A sound file satisfies, for the tree the newest meta page
/// names:
/// - every page a table reaches lies in pages 2 … last page, says its own number (`mp_pgno`), is a
///   branch page above the table's depth and a leaf page at it, and belongs to **one** table only
///   (a table whose root was overwritten with another's page number reads another table's records
///   without an error: found by a tester);
/// - each table's counts of branch, leaf and overflow pages and of entries equal its record's;
/// - the free-page database lists pages no table holds, under keys (the transactions that freed
///   them) no greater than the meta page's own transaction;
/// - and every page from 2 to the last page is either in a table or free: none is lost.
///
/// The layout read is LMDB 0.9's (`mdb.c`: `MDB_page` header of 16 bytes — `mp_pgno` u64, flags
/// u16 at byte 10, `mp_lower`/`mp_upper` u16 at 12/14, or `mp_pages` u32 at 12 on an overflow
/// page — then `mp_ptrs`, the nodes' offsets; `MDB_node`: `mn_lo`, `mn_hi`, `mn_flags`,
/// `mn_ksize`, u16 each, then the key and the data; a branch node's child is `mn_lo | mn_hi << 16 |
/// mn_flags << 32`), on a 64-bit little-endian machine. Sorted-duplicate (`MDB_DUPSORT`) tables are
/// not descended into: an environment that has one is reported as such.
public struct PageAudit: Sendable, Hashable {
    /// One table (named database) as its record in the main database describes it and as its pages were found.
    public struct Table: Sendable, Hashable {
        /// The table's name.
        public var name: String
        /// Its persistent flags (`md_flags`: `MDB_DUPSORT` is 0x04, `MDB_INTEGERKEY` 0x08, …).
        public var flags: UInt16
        /// Its entries, as counted on its leaf pages.
        public var entries: UInt64
        /// The pages it holds (branch, leaf and overflow).
        public var pages: UInt64
    }
    /// The transaction whose tree was walked (the read transaction's snapshot).
    public var transactionID: UInt64
    /// The last page in use in that tree.
    public var lastPage: UInt64
    /// The page size, bytes.
    public var pageSize: Int
    /// The named tables, in key order.
    public var tables: [Table]
    /// Pages the free-page database lists.
    public var freePages: UInt64
    /// What is wrong, for people; empty when the tree is sound. At most ``problemLimit`` are kept.
    public var problems: [String]
    /// Problems found beyond those kept in ``problems``.
    public var moreProblems: Int

    /// How many problems are kept.
    public static let problemLimit = 20
}

extension PageAudit {
    /// Walks the tree of the meta page holding transaction `transactionID` (see ``PageAudit``), reading
    /// the file with `pread` on `fd`.
    ///
    /// The caller must hold a read transaction of `transactionID` for the whole walk when another
    /// process may write (LMDB then reuses none of the snapshot's pages). Returns `nil` when neither
    /// meta page holds that transaction any more (two commits came in between): begin again.
    /// - Throws: ``DataFileError`` when the file cannot be read.
    static func walk(fd: Int32, path: String, transactionID: UInt64) throws(DataFileError) -> PageAudit? {
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            throw DataFileError(path: path, what: "cannot be read: \(String(cString: strerror(errno)))", kind: .unreadable)
        }
        let reader = PageReader(fd: fd, fileSize: Int(st.st_size), pageSize: 0)
        guard let first = reader.bytes(at: 0, count: 152) else {
            throw DataFileError(path: path, what: "the file ends inside its meta page: truncated", kind: .damaged)
        }
        let pageSize = Int(PageReader.u32(first, 40))
        guard pageSize >= 512, pageSize <= 1 << 16, pageSize & (pageSize - 1) == 0 else {
            throw DataFileError(path: path, what: "meta page 0 names a page size of \(pageSize) bytes", kind: .damaged)
        }
        let pages = PageReader(fd: fd, fileSize: Int(st.st_size), pageSize: pageSize)
        var meta: [UInt8]?
        for index in 0..<2 {
            if let bytes = pages.bytes(at: index * pageSize, count: 152), PageReader.u64(bytes, 144) == transactionID { meta = bytes }
        }
        guard let meta else { return nil }
        var walker = TreeWalker(pages: pages, transactionID: transactionID, lastPage: PageReader.u64(meta, 136))
        walker.run(free: TableRecord(meta, at: 40), main: TableRecord(meta, at: 88))
        return PageAudit(transactionID: transactionID, lastPage: walker.lastPage, pageSize: pageSize, tables: walker.tables,
                         freePages: walker.freePages, problems: walker.problems, moreProblems: walker.moreProblems)
    }

    /// The leaf page of the free-page database of the tree whose meta page is `meta` that a descent
    /// reaches, with its nodes' offsets: in each branch page, `child` picks the node to follow. `nil`
    /// when the database is empty or a page on the way cannot be read as one (other checks name that).
    private static func freeLeaf(pages: PageReader, meta: [UInt8], child: ([UInt8], [Int]) -> Int) -> (page: [UInt8], nodes: [Int])? {
        let free = TableRecord(meta, at: 40)
        let lastPage = PageReader.u64(meta, 136)
        var pgno = free.root
        for _ in 0..<Int(min(free.depth, 32)) {
            guard pgno != invalidPage, pgno >= 2, pgno <= lastPage, let page = pages.page(pgno), PageReader.u64(page, 0) == pgno,
                  let nodes = PageReader.nodeOffsets(page), !nodes.isEmpty else { return nil }
            let flags = PageReader.u16(page, 10)
            if flags & branchFlag != 0 {
                pgno = PageReader.childPage(page, node: child(page, nodes))
            } else {
                return flags & leafFlag != 0 ? (page, nodes) : nil
            }
        }
        return nil
    }

    /// A free-page record's key (a transaction id, 8 bytes), or `nil` when it is not 8 bytes.
    private static func freeKey(_ page: [UInt8], _ node: Int) -> UInt64? {
        PageReader.u16(page, node + 6) == 8 && node + 16 <= page.count ? PageReader.u64(page, node + 8) : nil
    }

    /// The greatest key of the free-page database of the tree whose meta page is `meta` (the last
    /// transaction that freed pages in it), found along the tree's rightmost path; `nil` when the
    /// database is empty or the path cannot be read (a page out of range or not what it should be:
    /// other checks name that).
    static func newestFreeingTransaction(pages: PageReader, meta: [UInt8]) -> UInt64? {
        guard let (page, nodes) = freeLeaf(pages: pages, meta: meta, child: { $1[$1.count - 1] }) else { return nil }
        return freeKey(page, nodes[nodes.count - 1])
    }

    /// The pages the free-page database of the tree whose meta page is `meta` lists under
    /// transaction `key` (a B-tree search: in a branch page the last child whose separator is at most
    /// `key`); `nil` when there is no such record or a page on the way cannot be read as one.
    static func freeRecord(pages: PageReader, meta: [UInt8], key: UInt64) -> [UInt64]? {
        let reached = freeLeaf(pages: pages, meta: meta) { page, nodes in
            var chosen = nodes[0]
            for node in nodes.dropFirst() { if let k = freeKey(page, node), k <= key { chosen = node } else { break } }
            return chosen
        }
        guard let (page, nodes) = reached, let node = nodes.first(where: { freeKey(page, $0) == key }) else { return nil }
        let lastPage = PageReader.u64(meta, 136)
        let dataSize = Int(PageReader.u16(page, node)) | Int(PageReader.u16(page, node + 2)) << 16
        let dataAt = node + 16
        let value: [UInt8]?
        if PageReader.u16(page, node + 4) & bigDataNode != 0 {
            guard dataAt + 8 <= page.count else { return nil }
            let first = PageReader.u64(page, dataAt)
            guard first >= 2, first <= lastPage, first < UInt64(Int.max / pages.pageSize) else { return nil }
            value = pages.bytes(at: Int(first) * pages.pageSize + 16, count: dataSize)
        } else {
            value = dataAt + dataSize <= page.count ? Array(page[dataAt..<(dataAt + dataSize)]) : nil
        }
        guard let value, value.count >= 8 else { return nil }
        let count = PageReader.u64(value, 0)
        guard count <= UInt64((value.count - 8) / 8) else { return nil }
        return (0..<Int(count)).map { PageReader.u64(value, 8 + 8 * $0) }
    }

    static let invalidPage: UInt64 = ~0
    static let branchFlag: UInt16 = 0x01
    static let leafFlag: UInt16 = 0x02
    static let overflowFlag: UInt16 = 0x04
    static let leaf2Flag: UInt16 = 0x20
    static let bigDataNode: UInt16 = 0x01
    static let subDataNode: UInt16 = 0x02
    static let dupDataNode: UInt16 = 0x04
}

/// A table's record (`MDB_db`, 48 bytes) at `offset` of a page or value.
struct TableRecord {
    var flags: UInt16, depth: UInt16, branchPages: UInt64, leafPages: UInt64, overflowPages: UInt64, entries: UInt64, root: UInt64
    init(_ bytes: [UInt8], at offset: Int) {
        flags = PageReader.u16(bytes, offset + 4)
        depth = PageReader.u16(bytes, offset + 6)
        branchPages = PageReader.u64(bytes, offset + 8)
        leafPages = PageReader.u64(bytes, offset + 16)
        overflowPages = PageReader.u64(bytes, offset + 24)
        entries = PageReader.u64(bytes, offset + 32)
        root = PageReader.u64(bytes, offset + 40)
    }
}

/// Reads pages of a data file with `pread` (never through the map: a page past the end of the file
/// is an error here, not a `SIGBUS`).
struct PageReader {
    let fd: Int32
    let fileSize: Int
    let pageSize: Int

    func bytes(at offset: Int, count: Int) -> [UInt8]? {
        guard offset >= 0, count >= 0, offset <= fileSize - count else { return nil }
        var bytes = [UInt8](repeating: 0, count: count)
        let n = bytes.withUnsafeMutableBytes { pread(fd, $0.baseAddress, count, off_t(offset)) }
        return n == count ? bytes : nil
    }

    func page(_ pgno: UInt64) -> [UInt8]? {
        guard pgno < UInt64(Int.max / pageSize) else { return nil }
        return bytes(at: Int(pgno) * pageSize, count: pageSize)
    }

    static func u16(_ b: [UInt8], _ at: Int) -> UInt16 { UInt16(b[at]) | UInt16(b[at + 1]) << 8 }
    static func u32(_ b: [UInt8], _ at: Int) -> UInt32 { (0..<4).reduce(0) { $0 | UInt32(b[at + $1]) << (8 * $1) } }
    static func u64(_ b: [UInt8], _ at: Int) -> UInt64 { (0..<8).reduce(0) { $0 | UInt64(b[at + $1]) << (8 * $1) } }

    /// The offsets of a branch or leaf page's nodes, each checked to leave room for a node header
    /// and its key inside the page; `nil` when the header or an offset cannot be.
    static func nodeOffsets(_ page: [UInt8]) -> [Int]? {
        let lower = Int(u16(page, 12)), upper = Int(u16(page, 14))
        guard lower >= 16, lower & 1 == 0, lower <= upper, upper <= page.count else { return nil }
        var offsets: [Int] = []
        offsets.reserveCapacity((lower - 16) / 2)
        for slot in stride(from: 16, to: lower, by: 2) {
            let offset = Int(u16(page, slot))
            guard offset >= upper, offset & 1 == 0, offset + 8 <= page.count,
                  offset + 8 + Int(u16(page, offset + 6)) <= page.count else { return nil }
            offsets.append(offset)
        }
        return offsets
    }

    /// A branch node's child page number.
    static func childPage(_ page: [UInt8], node: Int) -> UInt64 {
        UInt64(u16(page, node)) | UInt64(u16(page, node + 2)) << 16 | UInt64(u16(page, node + 4)) << 32
    }
}

/// The walk behind ``PageAudit/walk(fd:path:transactionID:)``.
private struct TreeWalker {
    let pages: PageReader
    let transactionID: UInt64
    let lastPage: UInt64
    /// Per page: 0 unclaimed, else an index into ``names`` + 1 (1 meta, 2 the free-page database's
    /// own pages, 3 the main database's, 4 pages the free-page database lists, 5… the tables).
    var owner: [UInt16]
    var names = ["meta pages", "the free-page database", "LMDB's table directory", "the free-page list"]
    var tables: [PageAudit.Table] = []
    var freePages: UInt64 = 0
    /// The pages the free-page database lists, with the transaction that freed each: claimed after
    /// the tables, so that a listed page in use is named as the list's error, not the table's.
    var listedFree: [(freedBy: UInt64, pgno: UInt64)] = []
    var problems: [String] = []
    var moreProblems = 0

    init(pages: PageReader, transactionID: UInt64, lastPage: UInt64) {
        self.pages = pages
        self.transactionID = transactionID
        // A last page the file cannot hold is reported, and the walk bounded by the file.
        let fileLast = UInt64(pages.fileSize / pages.pageSize) &- 1
        self.lastPage = lastPage
        owner = [UInt16](repeating: 0, count: Int(min(lastPage, fileLast, 1 << 34) &+ 1))
        if owner.count > 0 { owner[0] = 1 }
        if owner.count > 1 { owner[1] = 1 }
        if lastPage > fileLast {
            report("the newest meta page uses pages 0–\(lastPage) but the file holds pages 0–\(fileLast): truncated")
        }
    }

    mutating func report(_ text: String) {
        if problems.count < PageAudit.problemLimit { problems.append(text) } else { moreProblems += 1 }
    }

    /// What a table's walk found.
    struct Count { var branch: UInt64 = 0, leaf: UInt64 = 0, overflow: UInt64 = 0, entries: UInt64 = 0 }

    mutating func run(free: TableRecord, main: TableRecord) {
        var subtables: [(String, TableRecord)] = []
        walkTable(owner: 2, name: "the free-page database", record: free, isFree: true, subtables: &subtables)
        walkTable(owner: 3, name: "the main database (LMDB's table directory)", record: main, isFree: false, subtables: &subtables)
        for (name, record) in subtables {
            names.append("table \(name)")
            let index = UInt16(names.count)
            if record.flags & 0x04 != 0 {
                report("table \(name) is flagged sorted-duplicate (MDB_DUPSORT, flags 0x\(String(record.flags, radix: 16))): its pages are not checked")
                tables.append(PageAudit.Table(name: name, flags: record.flags, entries: record.entries, pages: 0))
                continue
            }
            var none: [(String, TableRecord)] = []
            let count = walkTable(owner: index, name: "table \(name)", record: record, isFree: false, subtables: &none)
            tables.append(PageAudit.Table(name: name, flags: record.flags, entries: count.entries, pages: count.branch + count.leaf + count.overflow))
        }
        for (freedBy, pgno) in listedFree where claim(pgno, from: nil, owner: 4, name: "the free-page list of transaction \(freedBy)") {
            freePages += 1
        }
        // Every page is in a table or free.
        var lost: [UInt64] = []
        var lostCount = 0
        for pgno in 2..<max(2, owner.count) where owner[pgno] == 0 {
            lostCount += 1
            if lost.count < 8 { lost.append(UInt64(pgno)) }
        }
        if lostCount > 0 {
            report("\(lostCount) page(s) belong to no table and are not in the free-page list (lost): "
                   + lost.map(String.init).joined(separator: ", ") + (lostCount > lost.count ? ", …" : ""))
        }
    }

    @discardableResult
    mutating func walkTable(owner index: UInt16, name: String, record: TableRecord, isFree: Bool,
                            subtables: inout [(String, TableRecord)]) -> Count {
        var count = Count()
        if record.root == PageAudit.invalidPage {
            if record.entries != 0 || record.depth != 0 || record.branchPages + record.leafPages + record.overflowPages != 0 {
                report("\(name) has no root page but its record counts \(record.entries) entries")
            }
            return count
        }
        guard record.depth >= 1, record.depth <= 32 else {
            report("\(name) names a depth of \(record.depth)")
            return count
        }
        let before = problems.count + moreProblems
        visit(record.root, from: nil, level: 1, depth: Int(record.depth), owner: index, name: name, isFree: isFree, count: &count, subtables: &subtables)
        // Counts that differ after a page problem follow from it: the page problem is the one named.
        guard problems.count + moreProblems == before else { return count }
        let found = [count.branch, count.leaf, count.overflow, count.entries]
        let recorded = [record.branchPages, record.leafPages, record.overflowPages, record.entries]
        for (i, what) in ["branch pages", "leaf pages", "overflow pages", "entries"].enumerated() where found[i] != recorded[i] {
            report("\(name): its record counts \(recorded[i]) \(what), its pages hold \(found[i])")
        }
        return count
    }

    /// Claims `pgno` for `index`; false (reported) when it is out of range or another's.
    mutating func claim(_ pgno: UInt64, from parent: UInt64?, owner index: UInt16, name: String) -> Bool {
        let whence = index == 4 ? " (listed free)" : parent.map { " (reached from page \($0))" } ?? " (its root)"
        guard pgno >= 2, pgno <= lastPage else {
            report("\(name): page \(pgno)\(whence) is outside the pages in use, 2–\(lastPage)")
            return false
        }
        guard pgno < UInt64(owner.count) else {
            report("\(name): page \(pgno)\(whence) is past the end of the file")
            return false
        }
        let previous = owner[Int(pgno)]
        guard previous == 0 else {
            report("\(name): page \(pgno)\(whence) already belongs to \(names[Int(previous) - 1])")
            return false
        }
        owner[Int(pgno)] = index
        return true
    }

    /// The key at `node` of `page`.
    static func key(_ page: [UInt8], _ node: Int) -> ArraySlice<UInt8> {
        page[(node + 8)..<(node + 8 + Int(PageReader.u16(page, node + 6)))]
    }

    /// Orders two keys as the table does: bytes compared lexicographically (LMDB's default, the one
    /// every ledger table and the main database use), or, for the free-page database
    /// (`MDB_INTEGERKEY`), as native 64-bit unsigned integers.
    static func compare(_ a: ArraySlice<UInt8>, _ b: ArraySlice<UInt8>, integer: Bool) -> Int {
        if integer, a.count == 8, b.count == 8 {
            let x = PageReader.u64(Array(a), 0), y = PageReader.u64(Array(b), 0)
            return x < y ? -1 : x > y ? 1 : 0
        }
        let n = Swift.min(a.count, b.count)
        let c = a.withUnsafeBytes { x in b.withUnsafeBytes { y in n == 0 ? 0 : memcmp(x.baseAddress!, y.baseAddress!, n) } }
        if c != 0 { return c < 0 ? -1 : 1 }
        return a.count < b.count ? -1 : a.count > b.count ? 1 : 0
    }

    /// Checks the keys of `page` against each other and the bounds its parent gives (`lower` ≤ key
    /// < `upper`): a B+tree's keys are in order, each child's between its separator and the next.
    /// LMDB searches by these keys and trusts them: a key out of order sends a lookup to the wrong
    /// page, so a record "is not there" (found by a tester: `verify` passed while `status` answered
    /// "no events"). A branch page's first key is empty (its lower bound is the parent's).
    mutating func checkOrder(_ page: [UInt8], _ nodes: [Int], isBranch: Bool, lower: [UInt8]?, upper: [UInt8]?, pgno: UInt64, name: String, integer: Bool) -> Bool {
        var previous: ArraySlice<UInt8>? = lower.map { ArraySlice($0) }
        for (i, node) in nodes.enumerated() where !(isBranch && i == 0) {
            let key = Self.key(page, node)
            if let p = previous, Self.compare(p, key, integer: integer) > (i == 0 || (isBranch && i == 1) ? 0 : -1) {
                report("\(name): page \(pgno)'s key \(i) is not after the key before it (keys out of order)")
                return false
            }
            if let upper, Self.compare(key, ArraySlice(upper), integer: integer) >= 0 {
                report("\(name): page \(pgno)'s key \(i) is not below the bound its parent gives (keys out of order)")
                return false
            }
            previous = key
        }
        return true
    }

    mutating func visit(_ pgno: UInt64, from parent: UInt64?, level: Int, depth: Int, owner index: UInt16, name: String, isFree: Bool,
                        count: inout Count, subtables: inout [(String, TableRecord)], lower: [UInt8]? = nil, upper: [UInt8]? = nil) {
        guard claim(pgno, from: parent, owner: index, name: name) else { return }
        guard let page = pages.page(pgno) else {
            report("\(name): page \(pgno) cannot be read")
            return
        }
        guard PageReader.u64(page, 0) == pgno else {
            report("\(name): page \(pgno) says it is page \(PageReader.u64(page, 0)) (overwritten)")
            return
        }
        let flags = PageReader.u16(page, 10)
        let isBranch = flags & PageAudit.branchFlag != 0, isLeaf = flags & PageAudit.leafFlag != 0
        guard isBranch != isLeaf, flags & (PageAudit.overflowFlag | PageAudit.leaf2Flag) == 0 else {
            report("\(name): page \(pgno) is neither a branch nor a leaf page (flags 0x\(String(flags, radix: 16)))")
            return
        }
        guard isBranch == (level < depth) else {
            report("\(name): page \(pgno) is a \(isBranch ? "branch" : "leaf") page at level \(level) of a tree \(depth) deep")
            return
        }
        guard let nodes = PageReader.nodeOffsets(page), !nodes.isEmpty else {
            report("\(name): page \(pgno)'s node table is damaged")
            return
        }
        let ordered = checkOrder(page, nodes, isBranch: isBranch, lower: lower, upper: upper, pgno: pgno, name: name, integer: index == 2)
        if isBranch {
            count.branch += 1
            for (i, node) in nodes.enumerated() {
                // Once keys are out of order, the children's bounds mean nothing: walk them unbounded.
                let low = !ordered ? nil : i == 0 ? lower : Array(Self.key(page, node))
                let high = !ordered ? nil : i + 1 < nodes.count ? Array(Self.key(page, nodes[i + 1])) : upper
                visit(PageReader.childPage(page, node: node), from: pgno, level: level + 1, depth: depth, owner: index, name: name,
                      isFree: isFree, count: &count, subtables: &subtables, lower: low, upper: high)
            }
            return
        }
        count.leaf += 1
        for node in nodes {
            count.entries += 1
            let nodeFlags = PageReader.u16(page, node + 4), keySize = Int(PageReader.u16(page, node + 6))
            let dataSize = Int(PageReader.u16(page, node)) | Int(PageReader.u16(page, node + 2)) << 16
            let dataAt = node + 8 + keySize
            var value: [UInt8]?
            if nodeFlags & PageAudit.bigDataNode != 0 {
                guard dataAt + 8 <= page.count else { report("\(name): page \(pgno) has a node past its end"); continue }
                value = overflow(PageReader.u64(page, dataAt), size: dataSize, from: pgno, owner: index, name: name, count: &count,
                                 wanted: isFree)
            } else {
                guard dataAt + dataSize <= page.count else { report("\(name): page \(pgno) has a node past its end"); continue }
                value = Array(page[dataAt..<(dataAt + dataSize)])
            }
            if nodeFlags & PageAudit.dupDataNode != 0 {
                report("\(name): page \(pgno) holds sorted-duplicate data, which its flags do not allow")
                continue
            }
            if index == 3, nodeFlags & PageAudit.subDataNode != 0 {
                let key = String(decoding: page[(node + 8)..<(node + 8 + keySize)], as: UTF8.self)
                guard let value, value.count == 48 else { report("LMDB's table directory: the record of table \(key) is not 48 bytes"); continue }
                subtables.append((key, TableRecord(value, at: 0)))
            } else if isFree {
                freeList(page, node: node, keySize: keySize, value: value, pgno: pgno)
            }
        }
    }

    /// Claims an overflow run; returns its bytes when `wanted`.
    mutating func overflow(_ first: UInt64, size: Int, from parent: UInt64, owner index: UInt16, name: String, count: inout Count,
                           wanted: Bool) -> [UInt8]? {
        let needed = UInt64((16 + size + pages.pageSize - 1) / pages.pageSize)
        guard claim(first, from: parent, owner: index, name: name) else { return nil }
        guard let head = pages.page(first), PageReader.u64(head, 0) == first,
              PageReader.u16(head, 10) & PageAudit.overflowFlag != 0 else {
            report("\(name): page \(first) (reached from page \(parent)) is not an overflow page")
            return nil
        }
        let run = UInt64(PageReader.u32(head, 12))
        guard run == needed else {
            report("\(name): overflow page \(first) says it runs \(run) pages; its \(size)-byte value needs \(needed)")
            return nil
        }
        count.overflow += run
        for pgno in (first + 1)..<(first + run) where !claim(pgno, from: parent, owner: index, name: name) { return nil }
        return wanted ? pages.bytes(at: Int(first) * pages.pageSize + 16, count: size) : nil
    }

    /// A free-page list entry: key = the transaction that freed the pages, value = a count and page numbers.
    mutating func freeList(_ page: [UInt8], node: Int, keySize: Int, value: [UInt8]?, pgno: UInt64) {
        guard keySize == 8 else { report("the free-page database: page \(pgno) has a \(keySize)-byte key (transaction ids are 8)"); return }
        let freedBy = PageReader.u64(page, node + 8)
        if freedBy > transactionID {
            report("the free-page database lists pages freed by transaction \(freedBy), after the meta page's transaction \(transactionID): "
                   + "the meta page's transaction id is damaged")
        }
        guard let value, value.count >= 8 else { report("the free-page database: the list of transaction \(freedBy) cannot be read"); return }
        let listed = PageReader.u64(value, 0)
        guard listed <= UInt64((value.count - 8) / 8) else {
            report("the free-page database: the list of transaction \(freedBy) counts \(listed) pages in \(value.count) bytes")
            return
        }
        // An IDL is sorted in descending order (`midl.h`), and LMDB relies on it: it takes a run of
        // free pages where `list[i - n] == list[i] + n`, so a list out of order hands out pages in
        // use (found by a tester: a shuffled list passed, and an append overwrote a log page).
        var previous = UInt64.max
        for i in 0..<Int(listed) {
            let pgno = PageReader.u64(value, 8 + 8 * i)
            if pgno >= previous {
                report("the free-page list of transaction \(freedBy) is not in descending order (page \(pgno) after page \(previous)): "
                       + "LMDB would hand out pages in use")
                return
            }
            previous = pgno
            listedFree.append((freedBy, pgno))
        }
    }
}
