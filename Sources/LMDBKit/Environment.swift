import CLMDB
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Options for opening an LMDB environment.
public struct EnvironmentOptions: Sendable {
    /// Initial map size in bytes. The map grows (doubling) on `MDB_MAP_FULL`.
    public var initialMapSize: Int = 256 << 20
    /// The largest map size the environment may grow to, in bytes.
    public var maximumMapSize: Int = 1 << 44
    /// Maximum number of named databases.
    public var maxDatabases: UInt32 = 32
    /// Maximum number of concurrent read transactions (LMDB reader table slots).
    public var maxReaders: UInt32 = 510
    /// When false, commits are not fsync'ed (`MDB_NOSYNC`): faster, but a system crash may lose the
    /// last transactions (never corrupt the file). Default true: one fsync per commit.
    public var durable: Bool = true
    /// Open read-only (`MDB_RDONLY`): every write transaction fails with `EACCES`, and named
    /// databases are opened in a read transaction. The lock file is still written (readers register
    /// in its table so that a writer in another process does not reuse their pages); when it cannot
    /// be opened for writing (read-only files or directory, `EACCES`), the environment is opened
    /// again without locking (`MDB_NOLOCK`, ``Environment/isLockless``), as LMDB itself does on a
    /// read-only file system (`lmdb.h`, `mdb_env_open`: "LMDB will still modify the lock file -
    /// except on read-only filesystems, where LMDB does not use locks").
    public var readOnly: Bool = false
    /// The permissions of the files LMDB creates (`data.mdb`, `lock.mdb`): owner only by default,
    /// since a ledger holds recipient addresses and raw feedback.
    public var fileMode: mode_t = 0o600
    /// What a map fault report (``MapFaultReporter``) names as the damaged file: the data file's
    /// path when `nil`. A copy being checked names its source (the damage is the source's).
    public var faultReportName: String? = nil

    /// The defaults: 256 MiB initial map, 16 TiB maximum, 32 databases, 510 readers, durable.
    public init() {}
}

/// Flags of a named database.
public struct DatabaseFlags: OptionSet, Sendable {
    /// The `mdb_dbi_open` flag bits.
    public let rawValue: UInt32
    /// Creates flags from `mdb_dbi_open` flag bits.
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    /// Create the database if it does not exist (`MDB_CREATE`).
    public static let create = DatabaseFlags(rawValue: UInt32(MDB_CREATE))
}

/// A handle on a named database inside an ``Environment`` (an `MDB_dbi`).
public struct Database: Sendable, Hashable {
    @usableFromInline let dbi: MDB_dbi
}

/// An LMDB environment: one memory-mapped file holding named databases.
///
/// Open it once per path per process and share it; it is safe to use from concurrent tasks.
/// Transactions are closure-scoped (``read(_:)``, ``write(_:)``): nothing escapes the closure.
/// Always opened with `MDB_NOTLS`, so a read transaction is not tied to a thread.
///
/// The map grows automatically: a write that hits `MDB_MAP_FULL` is aborted, the map size is
/// doubled (while no transaction of this process is active) and the whole write closure runs again.
public final class Environment: @unchecked Sendable {
    // Invariant for @unchecked Sendable: `env` is only used through LMDB calls that are
    // thread-safe with MDB_NOTLS; `mdb_env_set_mapsize` runs only under the exclusive side of
    // `resizeLock`, while every transaction holds its shared side.
    private let env: OpaquePointer
    private let resizeLock: UnsafeMutablePointer<pthread_rwlock_t>
    private let maximumMapSize: Int
    /// The path of the environment directory.
    public let path: String
    /// Whether the environment was opened without LMDB's lock file (`MDB_NOLOCK`; only read-only
    /// environments whose lock file cannot be written). Such a reader is safe on files nobody writes
    /// (a read-only copy or mount); a writer in another process could reuse the pages it reads.
    public let isLockless: Bool
    /// Whether the environment was opened read-only.
    public let isReadOnly: Bool
    /// This map's slot in ``MapFaultReporter`` (when installed).
    private let faultSlot: Int?

    /// Opens (creating if needed, unless read-only) the environment in directory `path`.
    ///
    /// A writable environment's map is sized with headroom at open: the larger of
    /// ``EnvironmentOptions/initialMapSize`` and twice the data file's size (capped at
    /// ``EnvironmentOptions/maximumMapSize``), so that the first write does not hit `MDB_MAP_FULL`
    /// and run again (LMDB maps exactly the file's size when the map asked for is smaller).
    /// - Throws: ``LMDBError`` (e.g. `ENOENT` when the directory does not exist, `EACCES`).
    public init(path: String, options: EnvironmentOptions = EnvironmentOptions()) throws(LMDBError) {
        var mapSize = options.initialMapSize
        if !options.readOnly {
            var st = stat()
            if stat(DataFileSummary.dataFile(in: path), &st) == 0 {
                mapSize = max(mapSize, min(options.maximumMapSize, Int(st.st_size) * 2))
            }
        }
        var flags = UInt32(MDB_NOTLS)
        if !options.durable { flags |= UInt32(MDB_NOSYNC) }
        if options.readOnly { flags |= UInt32(MDB_RDONLY) }
        var env: OpaquePointer
        do {
            env = try Self.open(path, flags: flags, mapSize: mapSize, options: options)
        } catch let error where options.readOnly && error.code == EACCES {
            flags |= UInt32(MDB_NOLOCK)
            env = try Self.open(path, flags: flags, mapSize: mapSize, options: options)
        }
        self.env = env
        self.path = path
        self.isLockless = flags & UInt32(MDB_NOLOCK) != 0
        self.isReadOnly = options.readOnly
        self.maximumMapSize = options.maximumMapSize
        self.resizeLock = .allocate(capacity: 1)
        pthread_rwlock_init(resizeLock, nil)
        let region = Self.region(of: env, path: path)
        faultSlot = MapFaultReporter.register(base: region.base, size: region.size, pageSize: region.pageSize,
                                              file: options.faultReportName ?? DataFileSummary.dataFile(in: path))
    }

    private static func open(_ path: String, flags: UInt32, mapSize: Int, options: EnvironmentOptions) throws(LMDBError) -> OpaquePointer {
        var env: OpaquePointer?
        try check(mdb_env_create(&env), "mdb_env_create")
        guard let env else { throw LMDBError(code: ENOMEM, operation: "mdb_env_create") }
        do {
            try check(mdb_env_set_maxdbs(env, options.maxDatabases), "mdb_env_set_maxdbs")
            try check(mdb_env_set_maxreaders(env, options.maxReaders), "mdb_env_set_maxreaders")
            try check(mdb_env_set_mapsize(env, mapSize), "mdb_env_set_mapsize")
            try check(mdb_env_set_assert(env, lmdbAssertion), "mdb_env_set_assert")
            try check(mdb_env_open(env, path, flags, options.fileMode), "mdb_env_open(\(path))")
        } catch {
            mdb_env_close(env)
            throw error
        }
        return env
    }

    deinit {
        if let faultSlot { MapFaultReporter.unregister(slot: faultSlot) }
        mdb_env_close(env)
        pthread_rwlock_destroy(resizeLock)
        resizeLock.deallocate()
    }

    /// The current map size in bytes.
    public var mapSize: Int {
        var info = MDB_envinfo()
        mdb_env_info(env, &info)
        return info.me_mapsize
    }

    /// Opens (or creates, with `.create`) a named database.
    /// - Throws: ``LMDBError``; `MDB_NOTFOUND` when it does not exist and `.create` is not given.
    public func openDatabase(named name: String, flags: DatabaseFlags = [.create]) throws -> Database {
        try write { txn throws(LMDBError) in try txn.openDatabase(named: name, flags: flags) }
    }

    /// Opens existing named databases in a read transaction (committed, so that the handles stay
    /// open for the environment's life: `mdb_dbi_open`), writing nothing: what a read-only
    /// environment uses.
    ///
    /// Each table's record in LMDB's table directory is checked first, since LMDB trusts it: its
    /// flags must be `flags` (`mdb_dbi_open` would adopt stored flags such as `MDB_DUPSORT`, and
    /// the first write then fails an LMDB assertion), and its root page must lie within the pages in
    /// use (a root past the last page fails every read with `MDB_PAGE_NOTFOUND`, unnamed).
    /// - Throws: ``LMDBError``; `MDB_NOTFOUND` (operation naming the database) when one does not
    ///   exist; `MDB_INCOMPATIBLE` (``LMDBError/incompatible``; its operation is "table NAME: what is
    ///   wrong") when its record is damaged.
    public func openExistingDatabases(named names: [String], flags expected: UInt32 = 0) throws(LMDBError) -> [Database] {
        pthread_rwlock_rdlock(resizeLock)
        defer { pthread_rwlock_unlock(resizeLock) }
        let txn = try begin(readOnly: true)
        var info = MDB_envinfo()
        mdb_env_info(env, &info)
        var handles: [Database] = []
        for name in names {
            var dbi: MDB_dbi = 0
            var rc = mdb_dbi_open(txn, name, 0, &dbi)
            var problem = ""
            if rc == 0 {
                var flags: UInt32 = 0
                mdb_dbi_flags(txn, dbi, &flags)
                var key = MDB_val(mv_size: name.utf8.count, mv_data: nil)
                var record = MDB_val()
                let got = name.withCString { key.mv_data = UnsafeMutableRawPointer(mutating: $0); return mdb_get(txn, 1, &key, &record) }
                if flags != expected {
                    problem = ": its record in LMDB's table directory has flags 0x\(String(flags, radix: 16)), the ledger's tables 0x\(String(expected, radix: 16))"
                } else if got == 0, record.mv_size == 48, let data = record.mv_data {
                    let root = data.loadUnaligned(fromByteOffset: 40, as: UInt64.self)
                    if root != ~0, root < 2 || root > UInt64(info.me_last_pgno) {
                        problem = ": its record in LMDB's table directory puts its root at page \(root), outside the pages in use (2–\(info.me_last_pgno))"
                    }
                } else {
                    problem = ": its record in LMDB's table directory cannot be read"
                }
                if !problem.isEmpty { rc = MDB_INCOMPATIBLE }
            }
            if rc != 0 {
                mdb_txn_abort(txn)
                throw LMDBError(code: rc, operation: problem.isEmpty ? "mdb_dbi_open(\(name))" : "table \(name)" + problem)
            }
            handles.append(Database(dbi: dbi))
        }
        try check(mdb_txn_commit(txn), "mdb_txn_commit(read)")
        return handles
    }

    /// Walks every page of the tree of a read transaction's snapshot and accounts for it
    /// (``PageAudit``): the structure LMDB trusts without checking. Safe beside a writer in another
    /// process (the read transaction keeps the snapshot's pages from being reused).
    /// - Throws: ``DataFileError`` when the data file cannot be read; ``LMDBError`` when a read
    ///   transaction cannot begin.
    public func auditPages() throws -> PageAudit {
        for _ in 0..<100 {
            pthread_rwlock_rdlock(resizeLock)
            defer { pthread_rwlock_unlock(resizeLock) }
            let txn = try begin(readOnly: true)
            defer { mdb_txn_abort(txn) }
            var fd: Int32 = -1
            try check(mdb_env_get_fd(env, &fd), "mdb_env_get_fd")
            // The snapshot's meta page is overwritten after two more commits: then begin again.
            if let audit = try PageAudit.walk(fd: fd, path: DataFileSummary.dataFile(in: path), transactionID: UInt64(mdb_txn_id(txn))) {
                return audit
            }
        }
        throw LMDBError(code: EBUSY, operation: "auditPages (the meta pages changed under 100 read transactions in a row)")
    }

    /// Writes a consistent copy of the environment into the empty directory `directory`
    /// (`mdb_env_copy2`), from a read transaction: writers keep appending meanwhile, the copy is the
    /// snapshot at its start. With `compact`, free pages are left out and pages renumbered
    /// (`MDB_CP_COMPACT`). The copy's file is created with ``EnvironmentOptions/fileMode``-like
    /// permissions by the caller (LMDB creates it 0666 less the umask).
    /// - Throws: ``LMDBError`` (`ENOSPC`, `EEXIST` when the directory holds a data file, …).
    public func copy(to directory: String, compact: Bool = true) throws(LMDBError) {
        try check(mdb_env_copy2(env, directory, compact ? UInt32(MDB_CP_COMPACT) : 0), "mdb_env_copy2(\(directory))")
    }

    /// Writes a consistent copy of the environment's data file to the open file descriptor `fd`
    /// (`mdb_env_copyfd2`, e.g. standard output), compacted with `compact` (`MDB_CP_COMPACT`).
    /// - Throws: ``LMDBError`` (`EPIPE`, `ENOSPC`, …).
    public func copy(toFileDescriptor fd: Int32, compact: Bool = true) throws(LMDBError) {
        try check(mdb_env_copyfd2(env, fd, compact ? UInt32(MDB_CP_COMPACT) : 0), "mdb_env_copyfd2")
    }

    /// Where the environment's map lies in this process's memory, and its page size. LMDB does not
    /// say (`mdb_env_info`'s `me_mapaddr` is the fixed address of `MDB_FIXEDMAP` only), so the map is
    /// found in `/proc/self/maps` (Linux) as the mapping of this environment's `data.mdb`; `nil`
    /// elsewhere.
    public var mapRegion: (base: UnsafeRawPointer?, size: Int, pageSize: Int) { Self.region(of: env, path: path) }

    private static func region(of env: OpaquePointer, path: String) -> (base: UnsafeRawPointer?, size: Int, pageSize: Int) {
        var info = MDB_envinfo()
        mdb_env_info(env, &info)
        var stat = MDB_stat()
        mdb_env_stat(env, &stat)
        var base: UnsafeRawPointer?
        #if os(Linux)
        if let real = realpath(DataFileSummary.dataFile(in: path), nil), let maps = fopen("/proc/self/maps", "r") {
            let file = String(cString: real)
            free(real)
            var line: UnsafeMutablePointer<CChar>?
            var capacity = 0
            while getline(&line, &capacity, maps) > 0, let line {
                let text = String(cString: line).split(separator: " ", omittingEmptySubsequences: true)
                guard text.count >= 6, text[5].hasPrefix(file), text[5].dropFirst(file.count).allSatisfy({ $0 == "\n" }),
                      text[2].allSatisfy({ $0 == "0" }), let dash = text[0].firstIndex(of: "-"),
                      let start = UInt(text[0][..<dash], radix: 16) else { continue }
                base = UnsafeRawPointer(bitPattern: start)
                break
            }
            free(line)
            fclose(maps)
        }
        #endif
        return (base, info.me_mapsize, Int(stat.ms_psize))
    }

    /// Runs `body` in a read-only transaction (a consistent snapshot).
    /// - Throws: what `body` throws, or ``LMDBError``.
    public func read<R>(_ body: (borrowing Transaction) throws -> R) throws -> R {
        pthread_rwlock_rdlock(resizeLock)
        defer { pthread_rwlock_unlock(resizeLock) }
        let txn = try begin(readOnly: true)
        defer { mdb_txn_abort(txn) }
        return try body(Transaction(txn: txn))
    }

    /// Runs `body` in a write transaction and commits it; on any error the transaction is aborted
    /// and nothing is written. Writers are serialised by LMDB.
    ///
    /// On `MDB_MAP_FULL` the map is grown and `body` runs **again from the start**, so it must not
    /// have effects outside the transaction that cannot be repeated.
    /// - Throws: what `body` throws, or ``LMDBError`` (`MDB_MAP_FULL` only past ``EnvironmentOptions/maximumMapSize``).
    public func write<R, E: Error>(_ body: (borrowing Transaction) throws(E) -> R) throws -> R {
        while true {
            do {
                return try writeOnce(body)
            } catch let error as LMDBError where error.hasCode(of: .mapFull) {
                try grow(from: mapSize, cause: error)
            }
        }
    }

    private func writeOnce<R, E: Error>(_ body: (borrowing Transaction) throws(E) -> R) throws -> R {
        pthread_rwlock_rdlock(resizeLock)
        defer { pthread_rwlock_unlock(resizeLock) }
        let txn = try begin(readOnly: false)
        let result: R
        do {
            result = try body(Transaction(txn: txn))
        } catch {
            mdb_txn_abort(txn)
            throw error
        }
        try check(mdb_txn_commit(txn), "mdb_txn_commit")
        return result
    }

    private func grow(from size: Int, cause: LMDBError) throws {
        pthread_rwlock_wrlock(resizeLock)
        defer { pthread_rwlock_unlock(resizeLock) }
        let current = mapSize
        guard current <= size else { return }  // another writer grew it already
        let next = current * 2
        guard next <= maximumMapSize else { throw cause }
        try check(mdb_env_set_mapsize(env, next), "mdb_env_set_mapsize")
        remapped()
    }

    /// Tells ``MapFaultReporter`` where the map is after a resize (called with no transaction active).
    private func remapped() {
        guard let faultSlot else { return }
        let region = mapRegion
        MapFaultReporter.update(slot: faultSlot, base: region.base, size: region.size)
    }

    private func begin(readOnly: Bool) throws(LMDBError) -> OpaquePointer {
        while true {
            var txn: OpaquePointer?
            let rc = mdb_txn_begin(env, nil, readOnly ? UInt32(MDB_RDONLY) : 0, &txn)
            if rc == MDB_MAP_RESIZED {
                // Another process grew the map: adopt its size. Needs no active transaction in this
                // process; the caller holds the shared lock, so upgrade briefly.
                pthread_rwlock_unlock(resizeLock)
                pthread_rwlock_wrlock(resizeLock)
                let adopt = mdb_env_set_mapsize(env, 0)
                if adopt == 0 { remapped() }
                pthread_rwlock_unlock(resizeLock)
                pthread_rwlock_rdlock(resizeLock)
                try check(adopt, "mdb_env_set_mapsize")
                continue
            }
            try check(rc, readOnly ? "mdb_txn_begin(read)" : "mdb_txn_begin(write)")
            guard let txn else { throw LMDBError(code: ENOMEM, operation: "mdb_txn_begin") }
            return txn
        }
    }

    /// Flushes the data buffers to disk (`mdb_env_sync` with force).
    public func sync() throws(LMDBError) {
        try check(mdb_env_sync(env, 1), "mdb_env_sync")
    }
}

/// LMDB's assertion callback (`mdb_env_set_assert`): LMDB asserts when a page is not what its
/// parent says (a damaged file) and then aborts. When ``MapFaultReporter`` is installed (a
/// command-line program), the damage is named with the data file and the program exits with code 3
/// instead of `SIGABRT`; in a library the assertion goes on to LMDB's `abort()`.
private func lmdbAssertion(_ env: OpaquePointer?, _ message: UnsafePointer<CChar>?) {
    guard MapFaultReporter.installed.load() else { return }
    var path: UnsafePointer<CChar>?
    if let env { mdb_env_get_path(env, &path) }
    let file = path.map { String(cString: $0) + "/data.mdb" } ?? "data.mdb"
    let text = "Error: the ledger's data file \(file) is damaged: LMDB found a page that is not what its parent says "
        + "(\(message.map { String(cString: $0) } ?? "assertion")). Nothing was written. Restore it from a backup (see `ledger backup`).\n"
    _ = text.withCString { write(2, $0, strlen($0)) }
    _exit(3)
}
