import LMDBKit

/// One stored record with the index facts the benchmark's raw-LMDB baseline needs to repeat the
/// ledger's writes (`@_spi(Benchmark)`: for `Tools/Bench` only, not a stable API).
@_spi(Benchmark) public struct StoredRecord {
    /// Global log position.
    public var position: UInt64
    /// The record's bytes as stored (``RecordCodec``); valid only during the call.
    public var record: UnsafeRawBufferPointer
    /// The hash-chain value stored for the position (32 bytes); valid only during the call.
    public var hash: UnsafeRawBufferPointer
    /// Stream ordinal and its delivery's ordinal (0: no delivery).
    public var stream: UInt32, deliveryOrdinal: UInt32
    /// The stream-index key: delivery ordinal u32 big-endian + recipient UTF-8.
    public var streamKey: [UInt8]
    /// Valid time, ms since the epoch (UTC).
    public var occurredAtMilliseconds: Int64
    /// Delivery id and recipient ("" when none).
    public var delivery: String, recipient: String
    /// The raw source bytes the record keeps (JSON line, SparkPost element…), in bytes.
    public var rawSourceBytes: Int
}

/// Size of one of the ledger's tables.
@_spi(Benchmark) public struct TableSize: Sendable, Hashable {
    /// Table name (``Tables``).
    public var name: String
    /// Entries, and bytes of the pages holding them.
    public var entries: Int, bytes: Int
}

extension Ledger {
    /// Every stored record in log order, with the facts of its stream (see ``StoredRecord``).
    /// `body` returns false to stop.
    @_spi(Benchmark) public func forEachStoredRecord(_ body: (StoredRecord) throws -> Bool) throws(LedgerError) {
        try run {
            try withView { txn, view in
                var infos: [UInt32: StreamInfo] = [:]
                let raw = try rawDictionaries.decoder(txn, tables.meta)
                var names: [UInt32: String] = [0: ""]
                var chain = HashChain.genesis
                try txn.scan(tables.log) { k, v in
                    let position = Key.readU64(k)
                    let decoded = try RecordCodec.decode(v, raw: raw)
                    let ordinal = decoded.header.stream
                    if infos[ordinal] == nil {
                        guard let info = try view.streamInfo(ordinal, txn) else {
                            throw LedgerError.corrupt(position: position, what: "stream \(ordinal) is not in the streams table")
                        }
                        infos[ordinal] = info
                    }
                    let info = infos[ordinal]!
                    if names[info.deliveryOrdinal] == nil {
                        names[info.deliveryOrdinal] = try view.deliveryName(info.deliveryOrdinal, txn) ?? ""
                    }
                    // The format-3 link of the record (a hash-chain entry per record: the previous
                    // design's writes, which the baseline repeats).
                    chain = HashChain.next(chain, position: position, record: v)
                    let go = try chain.withUnsafeBytes { hash in
                        try body(StoredRecord(
                            position: position, record: v, hash: hash, stream: ordinal, deliveryOrdinal: info.deliveryOrdinal,
                            streamKey: Tables.streamIndexKey(delivery: info.deliveryOrdinal, recipient: info.recipient),
                            occurredAtMilliseconds: decoded.event.occurredAt.millisecondsSinceEpoch,
                            delivery: names[info.deliveryOrdinal]!, recipient: info.recipient, rawSourceBytes: decoded.event.raw.count))
                    }
                    return go
                }
            }
        }
    }

    /// The size of each of the ledger's tables.
    @_spi(Benchmark) public func tableSizes() throws(LedgerError) -> [TableSize] {
        try run {
            try environment.read { txn in
                let all: [(String, Database)] = [
                    ("log", tables.log), ("hashes", tables.hashes), ("streams", tables.streams), ("streamIndex", tables.streamIndex),
                    ("messageState", tables.messageState), ("deliveryCounters", tables.deliveryCounters),
                    ("validSteps", tables.validSteps), ("validBuckets", tables.validBuckets),
                    ("deliveries", tables.deliveries), ("deliveryNames", tables.deliveryNames), ("meta", tables.meta),
                ] + [("currentCounters", tables.currentCounters), ("tailStreams", tables.tailStreams)].compactMap { n, d in d.map { (n, $0) } }
                return try all.map { name, db in
                    let s = try txn.statistics(db)
                    return TableSize(name: name, entries: s.entries, bytes: s.bytes)
                }
            }
        }
    }
}
