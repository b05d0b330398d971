import LMDBKit

/// The named LMDB databases of a ledger (one environment, a directory).
///
/// | name | key | value | role |
/// |---|---|---|---|
/// | `log` | position, u64 big-endian | record (``RecordCodec``) | the append-only event log (`MDB_APPEND`) |
/// | `meta` | ASCII name | bytes | format version, projection checkpoint and layout |
/// | `deliveries` | delivery id (UTF-8) | ordinal u32 BE | interning of delivery ids |
/// | `deliveryNames` | ordinal u32 BE | delivery id | reverse of `deliveries` |
/// | `streamIndex` | delivery ordinal u32 BE + recipient | stream ordinal u32 BE | finds a message's stream without a scan; a delivery's messages are a key range |
/// | `streams` | stream ordinal u32 BE | head position, event count, delivery ordinal, recipient | chain heads: each record links to the previous record of its stream |
/// | `messageState` | block number (stream ordinal / 16) u32 BE | ``StateBlock`` of ``StateCodec`` states | projection: per-message state, 16 messages to an entry |
/// | `deliveryCounters` | delivery ordinal u32 BE | counters | projection: per-delivery KPI counters |
/// | `hashes` | position u64 BE | SHA-256, 32 bytes | tamper evidence: hash chain over the records (``HashChain``) |
/// | `validSteps` | delivery ordinal u32 BE + biased instant u64 BE + tag position u64 BE | counter changes | projection along valid time (``ValidTime``) |
/// | `duplicates` | delivery ordinal u32 BE + original position u64 BE + arrival `recordedAt` ms u64 BE | times received, varint | receipts of events sent again (no-op appends), for `audit`; not part of the log |
/// | `validBuckets` | delivery ordinal u32 BE + biased minute u64 BE | sum of the minute's steps | checkpoints of the valid-time axis |
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

    static let formatVersionKey = Array("format".utf8)
    static let checkpointKey = Array("projection.checkpoint".utf8)
    static let layoutKey = Array("projection.layout".utf8)
    static let rulesKey = Array("projection.rules".utf8)
    static let rulesDigestKey = Array("projection.rulesDigest".utf8)
    static let generationKey = Array("projection.generation".utf8)
    /// Version of the on-disk format (tables and record codec). 3: the projection tables are
    /// written at checkpoints, behind the log (``Tail``); 2 (read, and marked 3 at open) wrote them
    /// in every append.
    static let formatVersion: UInt64 = 3

    init(environment env: Environment) throws {
        (log, meta, deliveries, deliveryNames, streamIndex, streams, messageState, deliveryCounters, hashes, validSteps, validBuckets, duplicates) = try env.write { txn in
            (try txn.openDatabase(named: "log"), try txn.openDatabase(named: "meta"),
             try txn.openDatabase(named: "deliveries"), try txn.openDatabase(named: "deliveryNames"),
             try txn.openDatabase(named: "streamIndex"), try txn.openDatabase(named: "streams"),
             try txn.openDatabase(named: "messageState"), try txn.openDatabase(named: "deliveryCounters"),
             try txn.openDatabase(named: "hashes"), try txn.openDatabase(named: "validSteps"),
             try txn.openDatabase(named: "validBuckets"), try txn.openDatabase(named: "duplicates"))
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
