import LMDBKit

/// The named LMDB databases of a ledger (one environment, a directory).
///
/// | name | key | value | role |
/// |---|---|---|---|
/// | `log` | position, u64 big-endian | record (``RecordCodec``) | the append-only event log (`MDB_APPEND`) |
/// | `meta` | ASCII name | bytes | format version (the ledger marker, written with the tables when the ledger is created), projection checkpoint and layout, the raw bytes' zstd dictionaries (`raw.dictionary.` + id u32 BE → source code u8 + dictionary, ``RawDictionaries``) |
/// | `deliveries` | delivery id (UTF-8) | ordinal u32 BE | interning of delivery ids |
/// | `deliveryNames` | ordinal u32 BE | delivery id | reverse of `deliveries` |
/// | `streamIndex` | delivery ordinal u32 BE + recipient | stream ordinal u32 BE | finds a message's stream without a scan; a delivery's messages are a key range |
/// | `streams` | stream ordinal u32 BE | head position, event count, delivery ordinal, recipient | chain heads: each record links to the previous record of its stream |
/// | `messageState` | block number (stream ordinal / 16) u32 BE | ``StateBlock`` of ``StateCodec`` states | projection: per-message state, 16 messages to an entry |
/// | `deliveryCounters` | delivery ordinal u32 BE | counters | projection: per-delivery KPI counters |
/// | `hashes` | position u64 BE | SHA-256, 32 bytes | tamper evidence: hash chain over the records (``HashChain``) |
/// | `validSteps` | delivery ordinal u32 BE + biased instant u64 BE + tag position u64 BE | counter changes | projection along valid time (``ValidTime``) |
/// | `duplicates` | delivery ordinal u32 BE + first original position u64 BE | summaries (``DuplicateReceipts``) | bounded receipts of events sent again (no-op appends): per event, times, first and last arrival, for `audit`; not part of the log |
/// | `validBuckets` | delivery ordinal u32 BE + biased minute u64 BE | sum of the minute's steps | checkpoints of the valid-time axis |
/// | `currentCounters` | delivery id (UTF-8) | ``AppendSummary/DeliveryEntry`` | written by every append that touches the delivery: its ordinal, KPI counters and declared recipient count as of that append (a reader in another process answers KPIs from it without folding the tail) |
/// | `tailStreams` | an append's last position u64 BE | ``AppendSummary`` stream heads | written by every append: the streams it touched and their heads, sorted by stream hash (a reader finds a message's head in the tail without folding it); removed at the checkpoint that covers them |
///
/// There is no per-event secondary index: a stream's events are found by following the
/// `previous` links from its head, and idempotency is checked along that chain.
struct Tables: Sendable {
    let log: Database
    let meta: Database
    let deliveries: Database
    let deliveryNames: Database
    let streamIndex: Database
    let streams: Database
    let messageState: Database
    let deliveryCounters: Database
    let hashes: Database
    let validSteps: Database
    let validBuckets: Database
    let duplicates: Database
    /// Format 6's tables (``AppendSummary``); `nil` when a ledger of an older format is opened read-only.
    let currentCounters: Database?
    let tailStreams: Database?

    static let formatVersionKey = Array("format".utf8)
    static let checkpointKey = Array("projection.checkpoint".utf8)
    static let layoutKey = Array("projection.layout".utf8)
    static let rulesKey = Array("projection.rules".utf8)
    static let rulesDigestKey = Array("projection.rulesDigest".utf8)
    static let generationKey = Array("projection.generation".utf8)
    /// Version of the on-disk format (tables and record codec). 5: records of format 2 (raw bytes
    /// compressed, ``RawEncoding``; dictionaries in `meta`); 4: one hash-chain entry per append
    /// (``HashChain``); 3: the projection tables are written at checkpoints, behind the log
    /// (``Tail``), one hash-chain entry per record; 2 wrote the projection in every append. A writer
    /// opening a version 2 or 3 ledger marks it 4 (older builds then refuse it); its old entries
    /// read as appends of one record, so nothing is migrated. A writer opening a version 4 ledger
    /// marks it 5; its records (format 1) read as they are.
    /// 6: every append also writes its ``AppendSummary`` (`currentCounters`, `tailStreams`); a
    /// writer opening a version 5 ledger marks it 6 (an older build appending would leave them
    /// stale); a read-only open of an older ledger, without these tables, answers by folding.
    static let formatVersion: UInt64 = 6

    /// The tables' names, in the order of the stored properties.
    static let names = ["log", "meta", "deliveries", "deliveryNames", "streamIndex", "streams", "messageState",
                        "deliveryCounters", "hashes", "validSteps", "validBuckets", "duplicates"]

    /// Tables a newer format added: created by a writer, absent from an older ledger opened read-only.
    static let addedNames = ["currentCounters", "tailStreams"]

    private init(_ h: [Database], added: [Database?]) {
        (log, meta, deliveries, deliveryNames, streamIndex, streams, messageState, deliveryCounters, hashes, validSteps, validBuckets, duplicates) =
            (h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7], h[8], h[9], h[10], h[11])
        (currentCounters, tailStreams) = (added[0], added[1])
    }

    /// The format version from which the ``addedNames`` tables exist (a writer creates them when it
    /// marks an older ledger with it).
    static let addedNamesVersion: UInt64 = 6

    /// Opens the tables of an existing ledger without writing (a read transaction): what a
    /// read-only environment does. The ``addedNames`` tables may be absent from a ledger of an
    /// older format (`nil`), never from one of ``addedNamesVersion`` or later.
    /// - Throws: ``LMDBError`` (`MDB_NOTFOUND` naming the missing table), or a read's error.
    static func openExisting(_ env: Environment) throws -> Tables {
        let tables = try env.openExistingDatabases(named: names)
        let version = try env.read { txn in
            try txn.withValue(tables[1], key: formatVersionKey) { $0.count == 8 ? Key.readU64($0) : 0 } ?? 0
        }
        let added = try addedNames.map { name -> Database? in
            let table = try existingDatabase(env, name)
            if table == nil, version >= addedNamesVersion { throw LMDBError(code: LMDBError.notFound.code, operation: "mdb_dbi_open(\(name))") }
            return table
        }
        return Tables(tables, added: added)
    }

    /// Opens the tables of an existing ledger for writing: the ledger marker (`meta` and its format
    /// key) must be there — a ledger is never made out of a directory that lost it — and so must
    /// every table: a missing one is damage (the name's entry in LMDB's table directory was lost),
    /// never made anew (found by a tester: with the table directory damaged, an ingest created
    /// tables again and appended to a ledger that `verify` called damaged). Only the tables a newer
    /// format adds (``addedNames``) are created, and only in a ledger of an older format.
    /// Nothing is written unless such a table is created.
    /// - Throws: ``LMDBError``, or `missing` with the table or key that is not there.
    static func openForWriting(_ env: Environment, missing: (String) -> any Error) throws -> Tables {
        // Read first: a damaged ledger gets no write transaction at all.
        guard let meta = try existingDatabase(env, "meta") else { throw missing("it has no meta table") }
        let marker: [UInt8]? = try env.read { txn in try txn.get(meta, key: formatVersionKey) }
        guard let marker else { throw missing("its meta table has no format marker") }
        guard marker.count == 8 else { throw missing("its format marker is not 8 bytes") }
        let version = marker.withUnsafeBytes { Key.readU64($0) }
        var existing: [Database] = []
        for name in names {
            guard let table = try existingDatabase(env, name) else { throw missing("table \(name) is missing") }
            existing.append(table)
        }
        var added: [Database?] = []
        for name in addedNames {
            let table = try existingDatabase(env, name)
            if table == nil, version >= addedNamesVersion { throw missing("table \(name) is missing") }
            added.append(table)
        }
        if added.contains(where: { $0 == nil }) {
            // An older format: its writer creates the tables the newer one adds.
            let created = try env.write { txn in try addedNames.map { name throws(LMDBError) in try txn.openDatabase(named: name) } }
            added = created.map { Optional($0) }
        }
        return Tables(existing, added: added)
    }

    /// The existing table `name`, or `nil` when LMDB's table directory has no such entry.
    private static func existingDatabase(_ env: Environment, _ name: String) throws(LMDBError) -> Database? {
        do throws(LMDBError) {
            return try env.openExistingDatabases(named: [name])[0]
        } catch {
            if error.hasCode(of: .notFound) { return nil }
            throw error
        }
    }

    /// Creates the tables of a new ledger and its marker (the format version), in one transaction.
    static func create(_ env: Environment) throws {
        try env.write { txn in
            let handles = try names.map { name throws(LMDBError) in try txn.openDatabase(named: name) }
            for name in addedNames { _ = try txn.openDatabase(named: name) }
            try txn.put(handles[1], key: formatVersionKey, value: Key.u64(formatVersion))
        }
    }

    static func streamIndexKey(delivery: UInt32, recipient: String) -> [UInt8] {
        Key.u32(delivery) + Array(recipient.utf8)
    }
}

/// A stream's entry in the `streams` table.
struct StreamInfo: Sendable, Hashable {
    var ordinal: UInt32
    var deliveryOrdinal: UInt32
    var recipient: String
    var head: UInt64
    var count: UInt64

    var bytes: [UInt8] {
        var w = ByteWriter(capacity: 24 + recipient.utf8.count)
        w.varint(head)
        w.varint(count)
        w.varint(UInt64(deliveryOrdinal))
        w.string(recipient)
        return w.bytes
    }

    init(ordinal: UInt32, deliveryOrdinal: UInt32, recipient: String, head: UInt64, count: UInt64) {
        self.ordinal = ordinal
        self.deliveryOrdinal = deliveryOrdinal
        self.recipient = recipient
        self.head = head
        self.count = count
    }

    init(ordinal: UInt32, bytes: UnsafeRawBufferPointer) throws(CorruptRecordError) {
        var r = ByteReader(bytes)
        self.ordinal = ordinal
        head = try r.varint()
        count = try r.varint()
        let d = try r.varint()
        guard d <= UInt64(UInt32.max) else { throw CorruptRecordError(what: "stream \(ordinal): delivery ordinal out of range") }
        deliveryOrdinal = UInt32(d)
        recipient = try r.string()
    }
}
