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
    /// Open read-only (`MDB_RDONLY`).
    public var readOnly: Bool = false

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

    /// Opens (creating if needed) the environment in directory `path`.
    /// - Throws: ``LMDBError`` (e.g. `ENOENT` when the directory does not exist, `EACCES`).
    public init(path: String, options: EnvironmentOptions = EnvironmentOptions()) throws(LMDBError) {
        var env: OpaquePointer?
        try check(mdb_env_create(&env), "mdb_env_create")
        guard let env else { throw LMDBError(code: ENOMEM, operation: "mdb_env_create") }
        do {
            try check(mdb_env_set_maxdbs(env, options.maxDatabases), "mdb_env_set_maxdbs")
            try check(mdb_env_set_maxreaders(env, options.maxReaders), "mdb_env_set_maxreaders")
            try check(mdb_env_set_mapsize(env, options.initialMapSize), "mdb_env_set_mapsize")
            var flags = UInt32(MDB_NOTLS)
            if !options.durable { flags |= UInt32(MDB_NOSYNC) }
            if options.readOnly { flags |= UInt32(MDB_RDONLY) }
            try check(mdb_env_open(env, path, flags, 0o644), "mdb_env_open(\(path))")
        } catch {
            mdb_env_close(env)
            throw error
        }
        self.env = env
        self.path = path
        self.maximumMapSize = options.maximumMapSize
        self.resizeLock = .allocate(capacity: 1)
        pthread_rwlock_init(resizeLock, nil)
    }

    deinit {
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
