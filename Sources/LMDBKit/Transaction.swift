import CLMDB
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An LMDB transaction, valid only inside the ``Environment/read(_:)`` or ``Environment/write(_:)``
/// closure that received it. It is `~Copyable` and borrowed, so it cannot escape; buffers handed to
/// `body` closures point into the map and are valid only during that call.
public struct Transaction: ~Copyable {
    @usableFromInline let txn: OpaquePointer

    init(txn: OpaquePointer) { self.txn = txn }

    /// Opens (or creates) a named database inside this transaction.
    public func openDatabase(named name: String, flags: DatabaseFlags = [.create]) throws(LMDBError) -> Database {
        var dbi: MDB_dbi = 0
        try check(mdb_dbi_open(txn, name, flags.rawValue, &dbi), "mdb_dbi_open(\(name))")
        return Database(dbi: dbi)
    }

    /// Calls `body` with the value stored under `key` (zero-copy), or returns `nil` if there is none.
    /// (Inlinable, as are the other per-key calls: they are on every append's hot path, and a
    /// generic call across the module boundary would instantiate metadata at run time.)
    @inlinable
    public func withValue<R>(_ db: Database, key: [UInt8], _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R? {
        // LMDB stores no empty key (mdb_put refuses one) and mdb_get answers MDB_BAD_VALSIZE for
        // it: nothing is stored under an empty key, which is what a lookup of user input (an empty
        // delivery id) must hear.
        if key.isEmpty { return nil }
        var k = MDB_val(), v = MDB_val()
        return try key.withUnsafeBytes { kb -> R? in
            k.mv_size = kb.count
            k.mv_data = UnsafeMutableRawPointer(mutating: kb.baseAddress)
            let rc = mdb_get(txn, db.dbi, &k, &v)
            if rc == MDB_NOTFOUND { return nil }
            try check(rc, "mdb_get")
            return try body(UnsafeRawBufferPointer(start: v.mv_data, count: v.mv_size))
        }
    }

    /// Calls `body` with the value stored under `key`, given as raw bytes, or returns `nil`.
    @inlinable
    public func withValue<R>(_ db: Database, key: UnsafeRawBufferPointer, _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R? {
        if key.isEmpty { return nil }  // no empty key is ever stored (see above)
        var k = MDB_val(mv_size: key.count, mv_data: UnsafeMutableRawPointer(mutating: key.baseAddress))
        var v = MDB_val()
        let rc = mdb_get(txn, db.dbi, &k, &v)
        if rc == MDB_NOTFOUND { return nil }
        try check(rc, "mdb_get")
        return try body(UnsafeRawBufferPointer(start: v.mv_data, count: v.mv_size))
    }

    /// The value stored under `key`, copied, or `nil`.
    public func get(_ db: Database, key: [UInt8]) throws -> [UInt8]? {
        try withValue(db, key: key) { Array($0) }
    }

    /// How `put` treats an existing key.
    public enum PutMode: Sendable {
        /// Replace any existing value.
        case upsert
        /// Fail with `MDB_KEYEXIST` if the key exists (`MDB_NOOVERWRITE`).
        case insertOnly
        /// The key is greater than every key in the database (`MDB_APPEND`, fast bulk load);
        /// fails with `MDB_KEYEXIST` otherwise.
        case append
    }

    /// Stores `value` under `key`.
    /// - Throws: ``LMDBError`` (`MDB_KEYEXIST` per `mode`, `MDB_MAP_FULL`, `EINVAL` for a key over 511 bytes).
    @inlinable
    public func put(_ db: Database, key: [UInt8], value: [UInt8], mode: PutMode = .upsert) throws(LMDBError) {
        let flags: UInt32 = switch mode {
        case .upsert: 0
        case .insertOnly: UInt32(MDB_NOOVERWRITE)
        case .append: UInt32(MDB_APPEND)
        }
        var k = MDB_val(), v = MDB_val()
        let rc = key.withUnsafeBytes { kb in
            value.withUnsafeBytes { vb in
                k.mv_size = kb.count
                k.mv_data = UnsafeMutableRawPointer(mutating: kb.baseAddress)
                v.mv_size = vb.count
                v.mv_data = UnsafeMutableRawPointer(mutating: vb.baseAddress)
                return mdb_put(txn, db.dbi, &k, &v, flags)
            }
        }
        try check(rc, "mdb_put")
    }

    /// Stores `value` under `key`, both given as raw bytes (no array needed: for bulk loads that
    /// reuse one buffer).
    @inlinable
    public func put(_ db: Database, key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer, mode: PutMode = .upsert) throws(LMDBError) {
        let flags: UInt32 = switch mode {
        case .upsert: 0
        case .insertOnly: UInt32(MDB_NOOVERWRITE)
        case .append: UInt32(MDB_APPEND)
        }
        var k = MDB_val(mv_size: key.count, mv_data: UnsafeMutableRawPointer(mutating: key.baseAddress))
        var v = MDB_val(mv_size: value.count, mv_data: UnsafeMutableRawPointer(mutating: value.baseAddress))
        try check(mdb_put(txn, db.dbi, &k, &v, flags), "mdb_put")
    }

    /// Deletes `key`. Returns whether it existed.
    @discardableResult
    public func delete(_ db: Database, key: [UInt8]) throws(LMDBError) -> Bool {
        if key.isEmpty { return false }  // no empty key is ever stored
        var k = MDB_val()
        let rc = key.withUnsafeBytes { kb in
            k.mv_size = kb.count
            k.mv_data = UnsafeMutableRawPointer(mutating: kb.baseAddress)
            return mdb_del(txn, db.dbi, &k, nil)
        }
        if rc == MDB_NOTFOUND { return false }
        try check(rc, "mdb_del")
        return true
    }

    /// Removes every entry of `db` (`mdb_drop` without deleting the database).
    public func clear(_ db: Database) throws(LMDBError) {
        try check(mdb_drop(txn, db.dbi, 0), "mdb_drop")
    }

    /// Deletes `db` itself from the environment (`mdb_drop` with `del` 1); its handle is closed.
    public func drop(_ db: Database) throws(LMDBError) {
        try check(mdb_drop(txn, db.dbi, 1), "mdb_drop")
    }

    /// The number of entries in `db` (`mdb_stat`).
    public func count(_ db: Database) throws(LMDBError) -> Int {
        var stat = MDB_stat()
        try check(mdb_stat(txn, db.dbi, &stat), "mdb_stat")
        return stat.ms_entries
    }

    /// Size figures of `db` (`mdb_stat`): entries and the pages its B-tree occupies.
    public func statistics(_ db: Database) throws(LMDBError) -> DatabaseStatistics {
        var stat = MDB_stat()
        try check(mdb_stat(txn, db.dbi, &stat), "mdb_stat")
        return DatabaseStatistics(entries: stat.ms_entries, pageSize: Int(stat.ms_psize), depth: Int(stat.ms_depth),
                                  branchPages: stat.ms_branch_pages, leafPages: stat.ms_leaf_pages,
                                  overflowPages: stat.ms_overflow_pages)
    }

    /// The last (greatest) key and its value, copied, or `nil` when `db` is empty.
    public func last(_ db: Database) throws -> (key: [UInt8], value: [UInt8])? {
        var result: (key: [UInt8], value: [UInt8])?
        try scan(db, reverse: true) { k, v in
            result = (Array(k), Array(v))
            return false
        }
        return result
    }

    /// Iterates `db` in key order (or reverse), starting at the first key ≥ `start` (≤ `start` in
    /// reverse; the whole database when `start` is nil). `body` returns `false` to stop.
    /// The buffers are valid only during each call.
    public func scan(
        _ db: Database, from start: [UInt8]? = nil, reverse: Bool = false,
        _ body: (_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) throws -> Bool
    ) throws {
        var cursor: OpaquePointer?
        try check(mdb_cursor_open(txn, db.dbi, &cursor), "mdb_cursor_open")
        defer { mdb_cursor_close(cursor) }
        var k = MDB_val(), v = MDB_val()
        var rc: Int32
        if let start, start.isEmpty {
            // Every key is ≥ the empty one (and none ≤ it, no key being empty); LMDB's
            // MDB_SET_RANGE refuses an empty key (MDB_BAD_VALSIZE).
            if reverse { return }
            rc = mdb_cursor_get(cursor, &k, &v, MDB_FIRST)
        } else if let start {
            rc = start.withUnsafeBytes { kb in
                k.mv_size = kb.count
                k.mv_data = UnsafeMutableRawPointer(mutating: kb.baseAddress)
                return mdb_cursor_get(cursor, &k, &v, MDB_SET_RANGE)
            }
            if reverse {
                if rc == MDB_NOTFOUND {
                    rc = mdb_cursor_get(cursor, &k, &v, MDB_LAST)
                } else if rc == 0 {
                    // Positioned at the first key >= start; step back unless it equals start.
                    let equal = start.withUnsafeBytes { kb in
                        kb.count == k.mv_size && memcmp(kb.baseAddress!, k.mv_data, k.mv_size) == 0
                    }
                    if !equal { rc = mdb_cursor_get(cursor, &k, &v, MDB_PREV) }
                }
            }
        } else {
            rc = mdb_cursor_get(cursor, &k, &v, reverse ? MDB_LAST : MDB_FIRST)
        }
        let step = reverse ? MDB_PREV : MDB_NEXT
        while rc == 0 {
            let go = try body(UnsafeRawBufferPointer(start: k.mv_data, count: k.mv_size),
                              UnsafeRawBufferPointer(start: v.mv_data, count: v.mv_size))
            if !go { return }
            rc = mdb_cursor_get(cursor, &k, &v, step)
        }
        if rc != MDB_NOTFOUND { try check(rc, "mdb_cursor_get") }
    }
}

/// What `mdb_stat` reports for one database.
public struct DatabaseStatistics: Sendable, Hashable {
    /// Number of key/value pairs.
    public var entries: Int
    /// Page size, bytes.
    public var pageSize: Int
    /// Height of the B-tree.
    public var depth: Int
    /// Internal, leaf and overflow (large value) pages.
    public var branchPages: Int, leafPages: Int, overflowPages: Int
    /// Bytes of the pages the database occupies.
    public var bytes: Int { (branchPages + leafPages + overflowPages) * pageSize }
}
