import CLMDB

/// An error returned by LMDB, with the operation that failed.
///
/// Wraps the raw return code of an `mdb_*` call (errno values or LMDB's own negative codes,
/// see `lmdb.h`). Compare with the named statics, e.g. `error.code == LMDBError.mapFull.code`.
public struct LMDBError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The raw LMDB / errno return code.
    public var code: Int32
    /// The `mdb_*` operation that returned it (e.g. `mdb_put`).
    public var operation: String

    /// Creates an error for `code` returned by `operation`.
    public init(code: Int32, operation: String) {
        self.code = code
        self.operation = operation
    }

    /// LMDB's own text for the code (`mdb_strerror`).
    public var message: String { String(cString: mdb_strerror(code)) }

    public var description: String { "LMDB \(operation) failed: \(message) (\(code))" }

    /// `MDB_NOTFOUND`: key or data pair not found.
    public static let notFound = LMDBError(code: MDB_NOTFOUND, operation: "")
    /// `MDB_KEYEXIST`: key/data pair already exists.
    public static let keyExists = LMDBError(code: MDB_KEYEXIST, operation: "")
    /// `MDB_MAP_FULL`: environment map size reached (the ledger grows the map and retries).
    public static let mapFull = LMDBError(code: MDB_MAP_FULL, operation: "")
    /// `MDB_MAP_RESIZED`: another process grew the map.
    public static let mapResized = LMDBError(code: MDB_MAP_RESIZED, operation: "")

    /// `MDB_INVALID`: the file is not an LMDB data file.
    public static let invalid = LMDBError(code: MDB_INVALID, operation: "")
    /// `MDB_CORRUPTED`: a page of the wrong type was found (damage).
    public static let corrupted = LMDBError(code: MDB_CORRUPTED, operation: "")
    /// `MDB_INCOMPATIBLE`: a table's stored flags differ from those it is opened with.
    public static let incompatible = LMDBError(code: MDB_INCOMPATIBLE, operation: "")
    /// `MDB_PAGE_NOTFOUND`: a page number past the last page in use (damage).
    public static let pageNotFound = LMDBError(code: MDB_PAGE_NOTFOUND, operation: "")

    /// Whether the code says the data file is damaged (`MDB_CORRUPTED`, `MDB_PAGE_NOTFOUND`,
    /// `MDB_INVALID`, `MDB_BAD_TXN` after one of those, `MDB_VERSION_MISMATCH`, `MDB_INCOMPATIBLE`:
    /// a table's record with other flags, ``Environment/openExistingDatabases(named:flags:)``).
    public var isDamage: Bool {
        [MDB_CORRUPTED, MDB_PAGE_NOTFOUND, MDB_INVALID, MDB_VERSION_MISMATCH, MDB_BAD_TXN, MDB_INCOMPATIBLE].contains(code)
    }

    /// Whether two errors carry the same code, whatever the operation.
    public func hasCode(of other: LMDBError) -> Bool { code == other.code }
}

/// Every `mdb_*` return code goes through here.
@usableFromInline
func check(_ rc: Int32, _ operation: @autoclosure () -> String) throws(LMDBError) {
    if rc != 0 { throw LMDBError(code: rc, operation: operation()) }
}
