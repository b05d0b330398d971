import LMDBKit
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Opening a ledger: creation (only at a path that does not exist, atomically), the checks of an
/// existing one before LMDB maps it, read-only opens, and the naming of storage failures.
extension Ledger {
    /// Opens (or, at a path that does not exist and with write access, creates) the environment
    /// and its tables.
    ///
    /// An existing path must be a directory holding a sound `data.mdb`: it is checked with
    /// ``DataFileSummary/inspect(path:)`` before LMDB maps it (a missing or empty data file, damaged
    /// or swapped meta pages, a file shorter than its pages are named errors — never a new, empty
    /// ledger, and never a `SIGBUS`). A new ledger is built in a temporary directory beside `path`
    /// (tables and format marker in one transaction) and renamed into place, so `path` is either
    /// absent or a whole ledger, even after a crash. Directories are created 0700 and files 0600.
    static func openStorage(path: String, options: LedgerOptions) throws(LedgerError) -> (Environment, Tables) {
        var st = stat()
        if stat(path, &st) != 0 {
            guard options.createIfMissing, !options.readOnly else {
                throw .cannotOpen(path: path, reason: "no ledger there (ingest creates one)")
            }
            try create(path: path, options: options)
        } else if st.st_mode & S_IFMT != S_IFDIR {
            throw .cannotOpen(path: path, reason: "not a directory (a ledger is a directory holding data.mdb)")
        }
        do {
            _ = try DataFileSummary.inspect(path: DataFileSummary.dataFile(in: path))
        } catch {
            switch error.kind {
            case .missing:
                // LMDB leaves lock.mdb beside data.mdb: with it, this was a ledger whose data file is gone.
                if access(path + "/lock.mdb", F_OK) == 0 {
                    throw .damaged(path: path, what: "the directory holds lock.mdb but no data.mdb: the ledger's data file was lost")
                }
                throw .cannotOpen(path: path, reason: "not a ledger: the directory holds no data.mdb (a ledger is created only "
                                  + "at a path that does not exist; if this directory held one, its files were lost)")
            case .empty:
                throw .damaged(path: path, what: "data.mdb is empty (0 bytes): the ledger's contents were lost")
            case .unreadable:
                throw .cannotOpen(path: path, reason: error.description)
            case .damaged:
                // One meta page damaged and the other sound: `ledger repair` mends it (say so here,
                // where every command stops).
                let mendable = (try? mendMetaPage(path: path, dryRun: true)).flatMap { $0 } != nil
                throw .damaged(path: path, what: error.description
                               + (mendable ? " (the other meta page is sound: `ledger repair --db \(path)` mends it from it)" : ""))
            }
        }
        var envOptions = EnvironmentOptions()
        envOptions.durable = options.durable
        envOptions.initialMapSize = options.initialMapSize
        envOptions.readOnly = options.readOnly
        envOptions.faultReportName = options.faultReportName
        let environment: Environment
        do {
            environment = try Environment(path: path, options: envOptions)
        } catch {
            if error.isDamage { throw .damaged(path: path, what: "LMDB cannot open data.mdb: \(error.message)") }
            if error.code == EACCES || error.code == EPERM, let denied = deniedFile(path: path, readOnly: options.readOnly) {
                throw .cannotOpen(path: path, reason: "\(error.message): \(denied)")
            }
            throw .cannotOpen(path: path, reason: error.message)
        }
        do {
            let tables = options.readOnly
                ? try Tables.openExisting(environment)
                : try Tables.openForWriting(environment) { LedgerError.damaged(path: path, what: "\($0) (not a ledger, or damaged)") }
            return (environment, tables)
        } catch let e as LedgerError {
            throw e
        } catch let e as LMDBError where e.hasCode(of: .notFound) {
            throw .damaged(path: path, what: "\(e.operation.replacingOccurrences(of: "mdb_dbi_open", with: "table ")) is missing (not a ledger, or damaged)")
        } catch let e as LMDBError where e.hasCode(of: .incompatible) && e.operation.hasPrefix("table ") {
            throw .damaged(path: path, what: e.operation)
        } catch let e as LMDBError where e.isDamage {
            throw .damaged(path: path, what: "LMDB reports \(e.message) while opening its tables")
        } catch let e as LMDBError {
            throw .cannotOpen(path: path, reason: e.message)
        } catch {
            throw .cannotOpen(path: path, reason: "\(error)")
        }
    }

    /// Which of a ledger's files this process may not use as it needs to (found by a tester: a bare
    /// "Permission denied" named none): `data.mdb` (read, and write unless read-only), `lock.mdb`
    /// (read and write: readers register in it), the directory (to create `lock.mdb`). `nil` when
    /// every check passes (the denial came from elsewhere).
    static func deniedFile(path: String, readOnly: Bool) -> String? {
        let checks: [(String, Int32, String)] = [
            (path, X_OK, "the directory cannot be searched"),
            (path + "/data.mdb", readOnly ? R_OK : R_OK | W_OK, readOnly ? "data.mdb cannot be read" : "data.mdb cannot be read and written"),
            (path + "/lock.mdb", R_OK | W_OK, "lock.mdb cannot be read and written (readers register in it)"),
        ]
        for (file, mode, what) in checks where access(file, F_OK) == 0 && access(file, mode) != 0 {
            return "\(what) by this user (\(file))"
        }
        if access(path + "/lock.mdb", F_OK) != 0, access(path, W_OK) != 0 {
            return "the directory is not writable by this user, and lock.mdb must be created in it (\(path))"
        }
        return nil
    }

    /// Creates a ledger at `path` (which does not exist): built in a temporary directory beside it
    /// and renamed into place. When another process created `path` meanwhile, its ledger is used.
    private static func create(path: String, options: LedgerOptions) throws(LedgerError) {
        var trimmed = path
        while trimmed.count > 1 && trimmed.hasSuffix("/") { trimmed.removeLast() }
        let temporary = "\(trimmed).creating-\(getpid())-\(UInt32.random(in: 0 ... .max))"
        guard mkdir(temporary, 0o700) == 0 else {
            throw .cannotOpen(path: path, reason: "cannot create the directory: \(String(cString: strerror(errno)))")
        }
        defer { removeCreatedDirectory(temporary) }
        do {
            var envOptions = EnvironmentOptions()
            envOptions.durable = options.durable
            envOptions.initialMapSize = min(options.initialMapSize, 1 << 20)
            let environment = try Environment(path: temporary, options: envOptions)
            try Tables.create(environment)
            if options.durable { try environment.sync() }
        } catch let e as LMDBError {
            throw .cannotOpen(path: path, reason: "cannot create the ledger: \(e.message)")
        } catch {
            throw .cannotOpen(path: path, reason: "cannot create the ledger: \(error)")
        }
        if rename(temporary, trimmed) != 0 {
            let code = errno
            guard code == EEXIST || code == ENOTEMPTY else {
                throw .cannotOpen(path: path, reason: "cannot move the new ledger into place: \(String(cString: strerror(code)))")
            }
        }
    }

    /// Removes a temporary creation directory (its two LMDB files), if it is still there.
    private static func removeCreatedDirectory(_ directory: String) {
        unlink(directory + "/data.mdb")
        unlink(directory + "/lock.mdb")
        rmdir(directory)
    }

    /// A read-only open cannot rebuild the projection: when the projection's layout or rule table
    /// differ from this build's, says so (the same test as ``catchUpProjection(force:)``). A log
    /// past the checkpoint is not a rebuild: readers fold the tail in memory.
    func requireCurrentProjection() throws(LedgerError) {
        try run {
            try environment.read { txn in
                let layout = try txn.get(tables.meta, key: Tables.layoutKey).map { $0.withUnsafeBytes { Key.readU64($0) } }
                let rulesVersion = try txn.get(tables.meta, key: Tables.rulesKey).map { String(decoding: $0, as: UTF8.self) }
                let rulesDigest = try txn.get(tables.meta, key: Tables.rulesDigestKey).map { String(decoding: $0, as: UTF8.self) }
                var why: String?
                var remedy = "run `ledger reproject` (with write access to the ledger) first"
                if layout != StateCodec.layoutVersion {
                    why = layout == nil ? "it has not been built yet" : "its layout \(layout!) is not this build's \(StateCodec.layoutVersion)"
                } else if let rulesVersion, rulesVersion != options.rules.table.version || rulesDigest != options.rules.tableDigest {
                    why = rulesVersion == options.rules.table.version
                        ? "it was built with a rule table also called \(rulesVersion) but with other rules (digest \(rulesDigest.map { String($0.prefix(12)) } ?? "none"), "
                            + "the one asked for has \(options.rules.tableDigest.prefix(12)))"
                        : "it was built with rule table \(rulesVersion), not the one asked for (\(options.rules.table.version))"
                    let builtIn = TextQualifier.builtIn
                    let builtWith = rulesVersion == builtIn.table.version && rulesDigest == builtIn.tableDigest
                        ? "leave out --rules (it was built with the built-in table)" : "give the table it was built with (--rules FILE of \(rulesVersion))"
                    let asked = options.rules.tableDigest == builtIn.tableDigest ? "`ledger reproject`" : "`ledger reproject --rules FILE` (this table's file)"
                    remedy = "\(builtWith), or rebuild it with this one: \(asked) (with write access to the ledger)"
                }
                if let why {
                    throw LedgerError.cannotOpen(path: path, reason: "the projection needs rebuilding (\(why)), and this command only reads; "
                                                 + remedy)
                }
            }
        }
    }

    /// Names a storage failure: damage, a full file system or map, or else LMDB's own error.
    ///
    /// A full disk reaches LMDB as `ENOSPC`, or as `EIO` when a write came back short (LMDB's
    /// `mdb_page_flush` turns a short `pwrite` into `EIO`); an `EIO` is called a full disk when the
    /// file system has under 16 MiB or 2 % of its space free (`statvfs`), and is otherwise left as
    /// the I/O error it is.
    func storageError(_ e: LMDBError) -> LedgerError {
        if e.isDamage { return .damaged(path: path, what: "LMDB reports \(e.message) (\(e.operation))") }
        if e.hasCode(of: .mapFull) {
            return .full(path: path, what: "the map limit is reached (MDB_MAP_FULL at \(environment.mapSize) bytes)")
        }
        if e.code == EFBIG || (e.code == EIO && Self.fileSizeLimit() != nil) {
            // A file-size limit (`ulimit -f`, RLIMIT_FSIZE): a write past it fails with EFBIG (the
            // CLI ignores SIGXFSZ), which LMDB may report as EIO after a short write.
            if let limit = Self.fileSizeLimit() {
                return .full(path: path, what: "the process's file-size limit (ulimit -f: \(limit) bytes) is reached; \(e.operation) failed: \(e.message)")
            }
        }
        if e.code == ENOSPC || e.code == EDQUOT || e.code == EIO, let free = Self.freeSpace(path) {
            if e.code != EIO || free.available < 16 << 20 || free.available < free.total / 50 {
                let what = e.code == EDQUOT ? "the disk quota is exhausted" : "the file system holding it is full"
                return .full(path: path, what: "\(what) (\(free.available) bytes free of \(free.total); \(e.operation) failed: \(e.message))")
            }
        }
        return .storage(e)
    }

    /// The process's file-size limit in bytes (RLIMIT_FSIZE, `ulimit -f`), or `nil` when unlimited.
    public static func fileSizeLimit() -> Int? {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_FSIZE.rawValue), &limit) == 0, limit.rlim_cur != rlim_t.max else { return nil }  // RLIM_INFINITY
        return Int(clamping: limit.rlim_cur)
    }

    /// Free and total bytes of the file system holding `path` (`statvfs`), for an unprivileged user.
    static func freeSpace(_ path: String) -> (available: Int, total: Int)? {
        var s = statvfs()
        guard statvfs(path, &s) == 0 else { return nil }
        return (Int(s.f_bavail) * Int(s.f_frsize), Int(s.f_blocks) * Int(s.f_frsize))
    }
}
