#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What the two meta pages of an LMDB data file say, checked against the file itself.
///
/// LMDB trusts its data file: a page number past the end of a truncated file is mapped memory
/// with no file behind it, and reading it ends the process with `SIGBUS`. ``inspect(path:)``
/// reads the two meta pages with `pread` (never through the map) before the environment is
/// opened and checks what LMDB does not: each meta page's magic, version, page flag and page
/// size; that the meta of transaction *t* sits in page *t* mod 2 (where LMDB writes it, so swapped
/// or overwritten meta pages are named); that the root pages lie within the used pages; and that
/// the file holds every page up to the last one the newest meta names.
///
/// The layout read here is LMDB 0.9's (`mdb.c`: `MDB_page`, `MDB_meta`, `MDB_db`), little-endian
/// on the machines this runs on: page header 16 bytes (flags at byte 10), then `mm_magic`
/// (0xBEEFC0DE) at 16, `mm_version` (1) at 20, `mm_mapsize` at 32, the free-page database's
/// `md_pad` (the page size) at 40, its root at 80, the main database's root at 128, `mm_last_pg` at
/// 136 and `mm_txnid` at 144.
public struct DataFileSummary: Sendable, Hashable {
    /// The page size, bytes.
    public var pageSize: Int
    /// The last page in use, as the newest meta page says (pages 0 … lastPage are used).
    public var lastPage: UInt64
    /// The newest committed transaction's id.
    public var transactionID: UInt64
    /// The map size the newest meta page records, bytes.
    public var mapSize: Int
    /// The file's size, bytes.
    public var fileSize: Int
    /// Bytes the used pages take: `(lastPage + 1) × pageSize`.
    public var usedBytes: Int { Int(lastPage + 1) * pageSize }

    /// The data file of an environment directory.
    public static func dataFile(in directory: String) -> String { directory + "/data.mdb" }

    /// Reads and checks the meta pages of the LMDB data file at `path` (see the type's summary).
    /// - Throws: ``DataFileError`` naming the file and what is wrong (missing, empty, too short,
    ///   not an LMDB file, meta pages damaged or swapped, truncated).
    public static func inspect(path: String) throws(DataFileError) -> DataFileSummary {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            let code = errno
            throw DataFileError(path: path, what: code == ENOENT ? "the data file is missing" : "cannot be read: \(String(cString: strerror(code)))",
                                kind: code == ENOENT ? .missing : .unreadable)
        }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            throw DataFileError(path: path, what: "cannot be read: \(String(cString: strerror(errno)))", kind: .unreadable)
        }
        let fileSize = Int(st.st_size)
        guard fileSize > 0 else {
            throw DataFileError(path: path, what: "the data file is empty (0 bytes): its contents were lost", kind: .empty)
        }
        let first = try readPage(fd, offset: 0, path: path)
        let pageSize = Int(first.u32(40))
        guard pageSize >= 512, pageSize <= 1 << 16, pageSize & (pageSize - 1) == 0 else {
            let magic = first.u32(16)
            throw DataFileError(path: path, what: magic == magicNumber
                                ? "meta page 0 names a page size of \(pageSize) bytes (not a power of two from 512 to 65536)"
                                : "not an LMDB data file (no LMDB magic number at byte 16)", kind: .damaged)
        }
        guard fileSize >= 2 * pageSize else {
            throw DataFileError(path: path, what: "the file is \(fileSize) bytes, shorter than its two meta pages (\(2 * pageSize) bytes): truncated",
                                kind: .damaged)
        }
        let metas = [first, try readPage(fd, offset: pageSize, path: path)]
        for (index, meta) in metas.enumerated() {
            if let problem = meta.problem(index: index, pageSize: pageSize) {
                throw DataFileError(path: path, what: "meta page \(index) \(problem)", kind: .damaged)
            }
        }
        // Commit N writes meta page N mod 2 and leaves the other at N − 1: the two transaction ids
        // are consecutive (both 0 before the first commit). Ids further apart mean one was damaged,
        // and LMDB, which takes the greater, would silently open an older commit (found by a
        // tester: one flipped bit of the newest id, 18 → 2, and the last commit was gone while
        // `verify` passed).
        let ids = (metas[0].u64(144), metas[1].u64(144))
        if !(ids.0 == 0 && ids.1 == 0), max(ids.0, ids.1) - min(ids.0, ids.1) != 1 {
            throw DataFileError(path: path, what: "its meta pages hold transactions \(ids.0) and \(ids.1), which are not consecutive: "
                                + "one of them is damaged (LMDB would open an older commit without a word)", kind: .damaged)
        }
        let newest = metas[0].u64(144) < metas[1].u64(144) ? metas[1] : metas[0]
        let lastPage = newest.u64(136)
        let transactionID = newest.u64(144)
        let summary = DataFileSummary(pageSize: pageSize, lastPage: lastPage, transactionID: transactionID,
                                      mapSize: Int(truncatingIfNeeded: newest.u64(32)), fileSize: fileSize)
        guard lastPage >= 1, lastPage < UInt64(Int.max / pageSize) else {
            throw DataFileError(path: path, what: "the newest meta page (transaction \(transactionID)) names last page \(lastPage), which cannot be",
                                kind: .damaged)
        }
        for (name, root) in [("free-page", newest.u64(80)), ("main", newest.u64(128))] where root != invalidPage {
            guard root >= 2, root <= lastPage else {
                throw DataFileError(path: path, what: "the newest meta page (transaction \(transactionID)) puts the \(name) database's root at page \(root), outside pages 2–\(lastPage)",
                                    kind: .damaged)
            }
        }
        guard fileSize >= summary.usedBytes else {
            throw DataFileError(path: path, what: "the file is \(fileSize) bytes but its newest meta page (transaction \(transactionID)) uses pages 0–\(lastPage), "
                                + "\(summary.usedBytes) bytes: truncated (\(summary.usedBytes - fileSize) bytes missing)", kind: .damaged)
        }
        return summary
    }

    static let magicNumber: UInt32 = 0xBEEF_C0DE
    static let invalidPage: UInt64 = ~0
    /// `P_META` in `MDB_page.mp_flags`.
    static let metaFlag: UInt16 = 0x08

    private static func readPage(_ fd: Int32, offset: Int, path: String) throws(DataFileError) -> MetaBytes {
        var bytes = [UInt8](repeating: 0, count: 152)
        let n = bytes.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, off_t(offset)) }
        guard n == bytes.count else {
            throw DataFileError(path: path, what: n < 0 ? "cannot be read: \(String(cString: strerror(errno)))"
                                : "the file ends inside its meta page at byte \(offset): truncated", kind: n < 0 ? .unreadable : .damaged)
        }
        return MetaBytes(bytes: bytes)
    }

    /// The first 152 bytes of a meta page.
    private struct MetaBytes {
        var bytes: [UInt8]
        func u16(_ at: Int) -> UInt16 { UInt16(bytes[at]) | UInt16(bytes[at + 1]) << 8 }
        func u32(_ at: Int) -> UInt32 { (0..<4).reduce(0) { $0 | UInt32(bytes[at + $1]) << (8 * $1) } }
        func u64(_ at: Int) -> UInt64 { (0..<8).reduce(0) { $0 | UInt64(bytes[at + $1]) << (8 * $1) } }

        /// What is wrong with this meta page at page `index`, or `nil`.
        func problem(index: Int, pageSize: Int) -> String? {
            if u32(16) != magicNumber { return "has no LMDB magic number (overwritten)" }
            if u32(20) != 1 { return "names data format version \(u32(20)); LMDB 0.9 writes version 1" }
            if u16(10) & metaFlag == 0 { return "is not flagged as a meta page (overwritten)" }
            if Int(u32(40)) != pageSize { return "names a page size of \(u32(40)) bytes; meta page 0 names \(pageSize)" }
            let txnid = u64(144)
            if u64(0) != UInt64(index) { return "says it is page \(u64(0)) (meta pages swapped or overwritten)" }
            if txnid > 0 && txnid & 1 != UInt64(index) {
                return "holds transaction \(txnid), which LMDB writes to meta page \(txnid & 1) (meta pages swapped)"
            }
            return nil
        }
    }
}

/// An LMDB data file that cannot be opened safely, named with what is wrong.
public struct DataFileError: Error, Sendable, Hashable, CustomStringConvertible {
    /// Which check failed.
    public enum Kind: Sendable, Hashable {
        /// There is no data file.
        case missing
        /// The data file has 0 bytes.
        case empty
        /// It cannot be opened or read (permissions, I/O error).
        case unreadable
        /// Its meta pages or its size contradict each other: damaged or truncated.
        case damaged
    }
    /// The data file's path.
    public var path: String
    /// What is wrong, for people.
    public var what: String
    /// Which check failed.
    public var kind: Kind

    /// Creates an error about the file at `path`.
    public init(path: String, what: String, kind: Kind) {
        self.path = path
        self.what = what
        self.kind = kind
    }

    public var description: String { "\(path): \(what)" }
}
