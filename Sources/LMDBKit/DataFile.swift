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
    ///
    /// A writer in another process may commit while the meta pages are read (two reads, and the tree
    /// checks read more pages): a problem is reported only when the meta pages read the same before
    /// and after the checks (found by a tester: beside a service committing hundreds of times a
    /// second, ids read a few commits apart were called "not consecutive"); when they changed, the
    /// checks run again (up to 8 times, then the last result stands).
    public static func inspect(path: String) throws(DataFileError) -> DataFileSummary {
        let (fd, _) = try openFile(path, flags: O_RDONLY)
        defer { close(fd) }
        for attempt in 0..<8 {
            let before = metaSnapshot(fd)
            do throws(DataFileError) {
                return try inspectOnce(fd: fd, path: path)
            } catch {
                if attempt == 7 || metaSnapshot(fd) == before { throw error }
                usleep(UInt32(1000 << min(attempt, 4)))  // a writer is committing: read again shortly
            }
        }
        return try inspectOnce(fd: fd, path: path)
    }

    /// The first 152 bytes of meta page 0 and of the page after it at every page size LMDB can
    /// have (a commit changes at least one of them).
    private static func metaSnapshot(_ fd: Int32) -> [UInt8] {
        var bytes: [UInt8] = []
        for offset in [0] + (9...16).map({ 1 << $0 }) {
            var page = [UInt8](repeating: 0, count: 152)
            let n = page.withUnsafeMutableBytes { pread(fd, $0.baseAddress, 152, off_t(offset)) }
            bytes += n == 152 ? page : []
        }
        return bytes
    }

    /// One reading of the meta pages and the checks on them. The file's size is taken **after** the
    /// meta pages are read: LMDB writes a commit's pages (growing the file) before its meta page, so
    /// a size taken then covers every page the meta pages name (found by a tester: a size taken
    /// once, before a commit that grew the file, called a sound ledger truncated).
    private static func inspectOnce(fd: Int32, path: String) throws(DataFileError) -> DataFileSummary {
        guard try currentSize(fd, path: path) > 0 else {
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
        let early = try currentSize(fd, path: path)
        guard early >= 2 * pageSize else {
            throw DataFileError(path: path, what: "the file is \(early) bytes, shorter than its two meta pages (\(2 * pageSize) bytes): truncated",
                                kind: .damaged)
        }
        let metas = [first, try readPage(fd, offset: pageSize, path: path)]
        let fileSize = try currentSize(fd, path: path)
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
        if !areConsecutive(ids) {
            throw DataFileError(path: path, what: "its meta pages hold transactions \(ids.0) and \(ids.1), which are not consecutive: "
                                + "one of them is damaged (LMDB would open an older commit without a word)", kind: .damaged)
        }
        // A transaction id lowered by two (still consecutive and in its page) makes LMDB open the
        // older commit without a word (found by a tester): the tree of each meta page names, in
        // its free-page database, the transactions that freed pages, none after its own.
        // Each meta page's tree: last page within the file, roots within the pages in use, no page
        // freed by a later transaction (an id lowered by two); then the two trees against each other
        // (each sound alone): the id that names the smaller tree is the damaged one. A writer
        // committing meanwhile is handled by ``inspect(path:)``, which reads the meta pages again.
        let pages = PageReader(fd: fd, fileSize: fileSize, pageSize: pageSize)
        for index in 0..<2 {
            if let problem = metas[index].treeProblem(pages: pages) {
                throw DataFileError(path: path, what: "meta page \(index) \(problem)", kind: .damaged)
            }
        }
        if let (damaged, problem) = contradiction(metas, pages: pages) {
            throw DataFileError(path: path, what: "meta page \(damaged) \(problem)", kind: .damaged)
        }
        let newest = metas[0].u64(144) < metas[1].u64(144) ? metas[1] : metas[0]
        let summary = DataFileSummary(pageSize: pageSize, lastPage: newest.u64(136), transactionID: newest.u64(144),
                                      mapSize: Int(truncatingIfNeeded: newest.u64(32)), fileSize: fileSize)
        return summary
    }

    /// Mends a data file whose **one** meta page is damaged, from the other one.
    ///
    /// LMDB keeps two meta pages and commits by writing the newest transaction's meta over the older
    /// one (page *t* mod 2), after the transaction's data pages are on disk; the pages of the tree the
    /// older meta names are freed by the newer transaction and can be reused only by the one after it.
    /// So each meta page names a whole, intact tree: when one meta page is damaged (a torn write
    /// during a commit, or bytes overwritten since), the other still opens a consistent ledger. LMDB
    /// itself refuses a file with either meta page damaged (`MDB_INVALID`), and 0.9 has no option to
    /// open the other one. This writes, in place of the damaged page, a copy of the sound one with its
    /// page number and a transaction id one higher (`t + 1`, so that the two ids stay consecutive and
    /// each sits in page id mod 2, as ``inspect(path:)`` checks; one lower would be a meta page whose
    /// tree lists pages freed by a later transaction, which ``inspect(path:)`` calls damage): both
    /// pages then name the sound page's tree, and the next commit (`t + 2`) overwrites the original.
    /// A meta page is sound here when its own fields are (``inspect(path:)``'s checks) and so is the
    /// tree it names: its last page within the file, its roots within the pages in use, no page freed
    /// by a transaction after its own. Two meta pages sound in each other's place (swapped) are
    /// swapped back, byte for byte.
    ///
    /// What it costs: when the damaged page was the newest (a torn commit), that last commit is not
    /// there — it never returned, since LMDB syncs the meta page before a commit returns, so nothing
    /// acknowledged is lost; when the damage came later, the newest commit's records are lost and must
    /// be appended again (appends are idempotent).
    ///
    /// - Parameters:
    ///   - path: the data file (`data.mdb`).
    ///   - dryRun: only say what would be done (nothing is written, no lock is taken).
    ///   - saveDamagedPage: where to write the damaged page's bytes before they are replaced (the
    ///     evidence); `nil` to keep none.
    /// - Returns: what was (or would be) mended; `nil` when both meta pages are sound.
    /// - Throws: ``DataFileError`` when the file cannot be mended this way (both meta pages damaged,
    ///   or sound pages whose transaction ids contradict each other, a file shorter than the sound
    ///   page's tree), when another process has the environment open (its `lock.mdb` is locked: stop
    ///   it first), or when a read or write fails.
    public static func repairMetaPage(path: String, dryRun: Bool = false, saveDamagedPage: String? = nil) throws(DataFileError) -> MetaPageRepair? {
        let (fd, fileSize) = try openFile(path, flags: dryRun ? O_RDONLY : O_RDWR)
        defer { close(fd) }
        guard fileSize > 0 else { throw DataFileError(path: path, what: "the data file is empty (0 bytes): there is nothing to mend it from", kind: .empty) }

        // The page size: the first candidate at which one meta page is sound.
        let first = try readPage(fd, offset: 0, path: path)
        // The system's page size first (LMDB's own choice when it created the file): meta page 0's
        // field may be the damage, and trusted first it put meta page 1 inside page 0 (found by a tester).
        var candidates = [Int(sysconf(Int32(_SC_PAGESIZE))), 4096, Int(first.u32(40))]
        candidates += (9...16).map { 1 << $0 }
        var found: (pageSize: Int, metas: [MetaBytes], problems: [String?])?
        var firstProblems: [String?]?
        var seen: Set<Int> = []
        for size in candidates where size >= 512 && size <= 1 << 16 && size & (size - 1) == 0 && seen.insert(size).inserted {
            guard fileSize >= 2 * size else { continue }
            let metas = [first, try readPage(fd, offset: size, path: path)]
            let pages = PageReader(fd: fd, fileSize: fileSize, pageSize: size)
            let problems = (0..<2).map { metas[$0].problem(index: $0, pageSize: size) ?? metas[$0].treeProblem(pages: pages) }
            if problems.contains(where: { $0 == nil }) {
                found = (size, metas, problems)
                break
            }
            // Swapped: each page is sound where the other is (its page number and transaction say so).
            if (0..<2).allSatisfy({ metas[$0].problem(index: 1 - $0, pageSize: size) == nil && metas[$0].treeProblem(pages: pages) == nil }),
               areConsecutive((metas[0].u64(144), metas[1].u64(144))) {
                return try swapMetaPages(fd: fd, path: path, pageSize: size, transactionID: max(metas[0].u64(144), metas[1].u64(144)), dryRun: dryRun)
            }
            if size == candidates[0] { firstProblems = problems }
        }
        guard let (pageSize, metas, foundProblems) = found else {
            let named = firstProblems.map { "meta page 0 \($0[0] ?? "is sound"); meta page 1 \($0[1] ?? "is sound"): " } ?? ""
            throw DataFileError(path: path, what: "both meta pages are damaged (or this is not an LMDB data file): \(named)there is no sound one to mend "
                                + "the other from; restore the ledger from a backup", kind: .damaged)
        }
        var problems = foundProblems
        if problems[0] == nil && problems[1] == nil {
            let ids = (metas[0].u64(144), metas[1].u64(144))
            if !areConsecutive(ids) {
                throw DataFileError(path: path, what: "its meta pages hold transactions \(ids.0) and \(ids.1), which are not consecutive: one of "
                                    + "them is damaged, and nothing tells which; restore the ledger from a backup", kind: .damaged)
            }
            guard let (damaged, problem) = contradiction(metas, pages: PageReader(fd: fd, fileSize: fileSize, pageSize: pageSize)) else { return nil }
            problems[damaged] = problem
        }
        let sound = problems[0] == nil ? 0 : 1, damaged = 1 - sound
        let meta = metas[sound]
        let transactionID = meta.u64(144)
        var repair = MetaPageRepair(damagedPage: damaged, problem: problems[damaged]!, pageSize: pageSize, transactionID: transactionID, savedCopy: nil)
        if dryRun { return repair }

        let lockFD = try lockAgainstOpens(path: path)
        defer { if lockFD >= 0 { close(lockFD) } }
        var good = [UInt8](repeating: 0, count: pageSize), bad = [UInt8](repeating: 0, count: pageSize)
        let readGood = good.withUnsafeMutableBytes { pread(fd, $0.baseAddress, pageSize, off_t(sound * pageSize)) }
        let readBad = bad.withUnsafeMutableBytes { pread(fd, $0.baseAddress, pageSize, off_t(damaged * pageSize)) }
        guard readGood == pageSize, readBad == pageSize else {
            throw DataFileError(path: path, what: "cannot read its meta pages: \(String(cString: strerror(errno)))", kind: .unreadable)
        }
        if let saveDamagedPage {
            let out = open(saveDamagedPage, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
            guard out >= 0 else {
                throw DataFileError(path: path, what: "cannot save the damaged meta page to \(saveDamagedPage): \(String(cString: strerror(errno))); nothing was changed",
                                    kind: .unreadable)
            }
            let written = bad.withUnsafeBytes { write(out, $0.baseAddress, pageSize) }
            let synced = fsync(out) == 0
            close(out)
            guard written == pageSize, synced else {
                unlink(saveDamagedPage)
                throw DataFileError(path: path, what: "cannot save the damaged meta page to \(saveDamagedPage); nothing was changed", kind: .unreadable)
            }
            repair.savedCopy = saveDamagedPage
        }
        func put64(_ value: UInt64, at offset: Int) { for i in 0..<8 { good[offset + i] = UInt8(truncatingIfNeeded: value >> (8 * UInt64(i))) } }
        put64(UInt64(damaged), at: 0)
        put64(transactionID == 0 && damaged == 0 ? 0 : transactionID + 1, at: 144)  // ids 0 and 0 before the first commit
        let written = good.withUnsafeBytes { pwrite(fd, $0.baseAddress, pageSize, off_t(damaged * pageSize)) }
        guard written == pageSize, fsync(fd) == 0 else {
            throw DataFileError(path: path, what: "cannot write meta page \(damaged): \(String(cString: strerror(errno)))", kind: .unreadable)
        }
        _ = try inspect(path: path)
        return repair
    }

    /// Puts back two meta pages found in each other's place (each sound at the other's page
    /// number): an exact swap of their bytes, so nothing is lost and no copy is kept.
    private static func swapMetaPages(fd: Int32, path: String, pageSize: Int, transactionID: UInt64, dryRun: Bool) throws(DataFileError) -> MetaPageRepair {
        let repair = MetaPageRepair(damagedPage: 0, problem: "and meta page 1 are in each other's place (swapped)", pageSize: pageSize,
                                    transactionID: transactionID, savedCopy: nil, swapped: true)
        if dryRun { return repair }
        let lockFD = try lockAgainstOpens(path: path)
        defer { if lockFD >= 0 { close(lockFD) } }
        var pages = [UInt8](repeating: 0, count: 2 * pageSize)
        guard pages.withUnsafeMutableBytes({ pread(fd, $0.baseAddress, 2 * pageSize, 0) }) == 2 * pageSize else {
            throw DataFileError(path: path, what: "cannot read its meta pages: \(String(cString: strerror(errno)))", kind: .unreadable)
        }
        let swapped = Array(pages[pageSize...]) + Array(pages[..<pageSize])
        guard swapped.withUnsafeBytes({ pwrite(fd, $0.baseAddress, 2 * pageSize, 0) }) == 2 * pageSize, fsync(fd) == 0 else {
            throw DataFileError(path: path, what: "cannot write its meta pages: \(String(cString: strerror(errno)))", kind: .unreadable)
        }
        _ = try inspect(path: path)
        return repair
    }

    /// Refuses when a process has the environment open: LMDB holds a lock on `lock.mdb`'s first byte
    /// (shared, or exclusive while it sets up) for as long as an environment is open. Returns the
    /// lock file's descriptor, holding the lock (a process opening the ledger meanwhile waits): the
    /// caller closes it once the meta pages are written (-1 when there is no lock file).
    private static func lockAgainstOpens(path: String) throws(DataFileError) -> Int32 {
        let directory = path.split(separator: "/", omittingEmptySubsequences: false).dropLast().joined(separator: "/")
        let lockPath = (directory.isEmpty ? "." : directory) + "/lock.mdb"
        let lockFD = open(lockPath, O_RDWR | O_CLOEXEC)
        if lockFD >= 0 {
            var lock = flock()
            lock.l_type = Int16(F_WRLCK)
            lock.l_whence = Int16(SEEK_SET)
            lock.l_start = 0
            lock.l_len = 1
            guard fcntl(lockFD, F_SETLK, &lock) == 0 else {
                close(lockFD)
                throw DataFileError(path: path, what: "another process has this ledger open (\(lockPath) is locked): stop it, then mend the meta page",
                                    kind: .unreadable)
            }
        }
        return lockFD
    }

    /// Two meta pages, each sound alone, whose trees contradict their transaction ids: the one with
    /// the greater id names the smaller tree. LMDB 0.9 never gives pages back to the file (a commit's
    /// last page is never below the one before it), and a commit keeps every free-page record of the
    /// commit before (a record can be reused only by a transaction two commits later), so the newer
    /// tree's last page and newest free-page record are at least the older's. An older meta page's id
    /// raised by two (still consecutive, still in its page) breaks this, and LMDB would open the older
    /// commit as the newest without a word (found by a tester). The page with the greater id is then
    /// the damaged one. Returns it and what is wrong, or `nil`.
    private static func contradiction(_ metas: [MetaBytes], pages: PageReader) -> (damaged: Int, problem: String)? {
        let ids = (metas[0].u64(144), metas[1].u64(144))
        guard ids.0 != ids.1 else { return nil }
        let newer = ids.0 > ids.1 ? 0 : 1, older = 1 - newer
        let (newerLast, olderLast) = (metas[newer].u64(136), metas[older].u64(136))
        if newerLast < olderLast {
            return (newer, "says it is transaction \(metas[newer].u64(144)), the newest, but uses pages 0–\(newerLast), fewer than the older "
                    + "transaction \(metas[older].u64(144)) (0–\(olderLast)), and LMDB never gives pages back: its transaction id is damaged")
        }
        let newerFreed = PageAudit.newestFreeingTransaction(pages: pages, meta: metas[newer].bytes) ?? 0
        let olderFreed = PageAudit.newestFreeingTransaction(pages: pages, meta: metas[older].bytes) ?? 0
        if newerFreed < olderFreed {
            return (newer, "says it is transaction \(metas[newer].u64(144)), the newest, but its free-page list stops at pages freed by "
                    + "transaction \(newerFreed), while the older transaction \(metas[older].u64(144))'s lists pages freed by transaction "
                    + "\(olderFreed): its transaction id is damaged")
        }
        // A commit that changes any table rewrites LMDB's table directory (the main database's root:
        // every table's record is in it), copying the previous root page and freeing it: the
        // newer commit's own free-page record (keyed by its transaction) lists the older tree's main
        // root whenever the two roots differ (`mdb_page_touch` frees the page it copies;
        // `mdb_freelist_save` writes the commit's freed pages under its id). A forged id — an older
        // page's id raised by two with its free-page list made to look newer — has no such record
        // (found by a tester).
        let (newerMain, olderMain) = (metas[newer].u64(128), metas[older].u64(128))
        if olderMain != invalidPage, newerMain != olderMain, ids.0 == ids.1 &+ 1 || ids.1 == ids.0 &+ 1 {
            let freed = PageAudit.freeRecord(pages: pages, meta: metas[newer].bytes, key: metas[newer].u64(144))
            if !(freed?.contains(olderMain) ?? false) {
                return (newer, "says it is transaction \(metas[newer].u64(144)), the newest, but its tree does not list as freed the table "
                        + "directory of transaction \(metas[older].u64(144)) (page \(olderMain)), which a commit that changes a table copies "
                        + "and frees: its transaction id is damaged")
            }
        }
        return nil
    }

    /// The file's size now (`fstat`).
    private static func currentSize(_ fd: Int32, path: String) throws(DataFileError) -> Int {
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            throw DataFileError(path: path, what: "cannot be read: \(String(cString: strerror(errno)))", kind: .unreadable)
        }
        return Int(st.st_size)
    }

    /// The data file opened with `flags` (and `O_CLOEXEC`), and its size; the caller closes it.
    private static func openFile(_ path: String, flags: Int32) throws(DataFileError) -> (fd: Int32, size: Int) {
        // O_NONBLOCK: a FIFO named data.mdb would block the open until a writer came (found by a
        // tester: `project` hung); it is refused below, as anything but a regular file is.
        let fd = open(path, flags | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else {
            let code = errno
            throw DataFileError(path: path, what: code == ENOENT ? "the data file is missing" : "cannot be opened: \(String(cString: strerror(code)))",
                                kind: code == ENOENT ? .missing : .unreadable)
        }
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            let code = errno
            close(fd)
            throw DataFileError(path: path, what: "cannot be read: \(String(cString: strerror(code)))", kind: .unreadable)
        }
        guard st.st_mode & S_IFMT == S_IFREG else {
            close(fd)
            throw DataFileError(path: path, what: "is not a regular file (a FIFO, device or directory): not a ledger's data file", kind: .damaged)
        }
        return (fd, Int(st.st_size))
    }

    /// Whether two meta pages' transaction ids are what commits leave: consecutive (commit N writes
    /// page N mod 2 and leaves the other at N − 1), or both 0 before the first commit.
    private static func areConsecutive(_ ids: (UInt64, UInt64)) -> Bool {
        (ids.0 == 0 && ids.1 == 0) || max(ids.0, ids.1) - min(ids.0, ids.1) == 1
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
        func u16(_ at: Int) -> UInt16 { PageReader.u16(bytes, at) }
        func u32(_ at: Int) -> UInt32 { PageReader.u32(bytes, at) }
        func u64(_ at: Int) -> UInt64 { PageReader.u64(bytes, at) }

        /// What is wrong with the tree this meta page names, or `nil`: its last page within the
        /// file, its two roots within the pages in use, and no page freed (its free-page database's
        /// keys) by a transaction after its own (an id lowered by two).
        func treeProblem(pages: PageReader) -> String? {
            let transactionID = u64(144), lastPage = u64(136)
            guard lastPage >= 1, lastPage < UInt64(Int.max / pages.pageSize) else { return "(transaction \(transactionID)) names last page \(lastPage), which cannot be" }
            guard pages.fileSize >= Int(lastPage + 1) * pages.pageSize else {
                return "(transaction \(transactionID)) uses pages 0–\(lastPage), \(Int(lastPage + 1) * pages.pageSize) bytes, "
                    + "but the file has \(pages.fileSize) bytes: truncated"
            }
            for (name, root) in [("free-page", u64(80)), ("main", u64(128))] where root != invalidPage {
                guard root >= 2, root <= lastPage else { return "(transaction \(transactionID)) puts the \(name) database's root at page \(root), outside pages 2–\(lastPage)" }
            }
            if let freedBy = PageAudit.newestFreeingTransaction(pages: pages, meta: bytes), freedBy > transactionID {
                return "says it is transaction \(transactionID), but its tree lists pages freed by transaction \(freedBy): its transaction id is damaged"
            }
            return nil
        }

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

/// A damaged meta page mended (or to be mended) from the other one (``DataFileSummary/repairMetaPage(path:dryRun:saveDamagedPage:)``).
public struct MetaPageRepair: Sendable, Hashable {
    /// The damaged meta page: 0 or 1.
    public var damagedPage: Int
    /// What was wrong with it.
    public var problem: String
    /// The file's page size, bytes.
    public var pageSize: Int
    /// The sound meta page's transaction: the ledger opens at its tree once mended (the copy holds
    /// it under `transactionID + 1`).
    public var transactionID: UInt64
    /// Where the damaged page's bytes were saved, if they were.
    public var savedCopy: String?
    /// Whether the two meta pages were sound but in each other's place, and are (or would be) put
    /// back by swapping them (nothing is lost, no copy is kept; ``damagedPage`` is then 0).
    public var swapped: Bool = false
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
