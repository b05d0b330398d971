import LMDBKit

/// What every append writes, in its own transaction, beside its records, so that a reader that has
/// not folded the tail (a reader in another process, while a writer appends) answers the two
/// point queries of a dashboard without folding it (issue "The projection behind the log" §2):
///
/// - **`currentCounters`**: for each delivery the append touched, one entry (``DeliveryEntry``)
///   with the delivery's ordinal, its whole KPI counters and its declared recipient count as of the
///   append. A delivery's KPIs depend only on its own events, so this entry is exact in any
///   snapshot until the next append that touches the delivery rewrites it: `kpis` is one read.
/// - **`tailStreams`**: one entry per append, under its last position: its first position, the
///   deliveries it touched and, sorted by ``streamHash(delivery:recipient:)``, the streams it
///   touched with their heads after it (16 bytes a stream). A message's status is then its persisted state at the checkpoint plus
///   the records of its chain after the checkpoint: the newest entry naming the stream gives the
///   chain's head. A checkpoint removes the entries it covers.
///
/// Both are of the projection, not the log: a re-projection clears them (readers then fold until
/// the next append writes them again), and nothing is lost if they are: a reader that finds no
/// entry, or entries that do not cover every append after the checkpoint (a ledger last written
/// by an older build), answers by folding the tail as before; so does a reader that finds no
/// `currentCounters` entry for a delivery an append after the checkpoint touched (damage). Cost to an append: one sorted
/// `MDB_APPEND` value (16 B a stream it touched) and one small entry per delivery it touched.
enum AppendSummary {
    /// A delivery's `currentCounters` entry: ordinal u32 BE, position u64 BE (the last position of
    /// the append that wrote it), declared `toDeliver` (u8 0 = none, 1 = zigzag varint follows), then
    /// the counters (``DeliveryCounters/bytes``).
    struct DeliveryEntry: Equatable {
        var ordinal: UInt32
        var position: UInt64
        var toDeliver: Int64?
        var counters: DeliveryCounters

        var bytes: [UInt8] {
            var w = ByteWriter(capacity: 32 + DeliveryCounters.count * 2)
            w.u32be(ordinal)
            w.u64be(position)
            if let toDeliver {
                w.u8(1)
                w.zigzag(toDeliver)
            } else {
                w.u8(0)
            }
            for v in counters.values { w.zigzag(v) }
            return w.bytes
        }

        init(ordinal: UInt32, position: UInt64, toDeliver: Int64?, counters: DeliveryCounters) {
            self.ordinal = ordinal
            self.position = position
            self.toDeliver = toDeliver
            self.counters = counters
        }

        init(bytes: UnsafeRawBufferPointer) throws(CorruptRecordError) {
            var r = ByteReader(bytes)
            ordinal = try r.u32be()
            position = try r.u64be()
            switch try r.u8() {
            case 0: toDeliver = nil
            case 1: toDeliver = try r.zigzag()
            case let f: throw CorruptRecordError(what: "current counters: flag \(f)")
            }
            counters = try DeliveryCounters(bytes: try r.bytes(bytes.count - r.offset))
        }
    }

    /// The hash a `tailStreams` entry sorts a stream by: FNV-1a 64 over the delivery ordinal (u32
    /// BE) and the recipient's UTF-8 bytes. Stored, so fixed (never Swift's seeded `Hasher`); it only
    /// names candidates: a reader confirms the stream of a head it finds.
    static func streamHash(delivery: UInt32, recipient: String) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        let prime: UInt64 = 0x0000_0100_0000_01b3
        var d = delivery.bigEndian
        withUnsafeBytes(of: &d) { for b in $0 { h = (h ^ UInt64(b)) &* prime } }
        for b in recipient.utf8 { h = (h ^ UInt64(b)) &* prime }
        return h
    }

    /// A `tailStreams` value: the append's first position u64 BE, the number of deliveries it
    /// touched u32 BE and their ordinals (u32 BE, ascending), then (hash u64 BE, head u64 BE) pairs
    /// sorted by hash, then head.
    static func streamsValue(first: UInt64, deliveries: [UInt32], _ heads: [(hash: UInt64, head: UInt64)]) -> [UInt8] {
        let ordinals = Set(deliveries).sorted()
        var w = ByteWriter(capacity: 12 + 4 * ordinals.count + 16 * heads.count)
        w.u64be(first)
        w.u32be(UInt32(ordinals.count))
        for d in ordinals { w.u32be(d) }
        for (hash, head) in heads.sorted(by: { ($0.hash, $0.head) < ($1.hash, $1.head) }) {
            w.u64be(hash)
            w.u64be(head)
        }
        return w.bytes
    }

    /// One `tailStreams` value, read in place.
    struct Streams {
        let value: UnsafeRawBufferPointer
        /// The deliveries the append touched, by ordinal (ascending).
        let deliveries: [UInt32]
        private let pairsStart: Int

        init(_ value: UnsafeRawBufferPointer) throws(CorruptRecordError) {
            guard value.count >= 12 else { throw CorruptRecordError(what: "tail streams entry of \(value.count) bytes") }
            let n = Int(Key.readU32(UnsafeRawBufferPointer(rebasing: value[8..<12])))
            guard n <= (value.count - 12) / 4, (value.count - 12 - 4 * n) % 16 == 0 else {
                throw CorruptRecordError(what: "tail streams entry of \(value.count) bytes for \(n) deliveries")
            }
            self.value = value
            deliveries = (0..<n).map { Key.readU32(UnsafeRawBufferPointer(rebasing: value[(12 + 4 * $0)...])) }
            pairsStart = 12 + 4 * n
        }

        var first: UInt64 { Key.readU64(UnsafeRawBufferPointer(rebasing: value[0..<8])) }
        var count: Int { (value.count - pairsStart) / 16 }
        private func hash(_ i: Int) -> UInt64 { Key.readU64(UnsafeRawBufferPointer(rebasing: value[(pairsStart + 16 * i)...])) }
        private func head(_ i: Int) -> UInt64 { Key.readU64(UnsafeRawBufferPointer(rebasing: value[(pairsStart + 8 + 16 * i)...])) }

        /// Every (hash, head) pair, in stored order.
        var pairs: [(hash: UInt64, head: UInt64)] { (0..<count).map { (hash($0), head($0)) } }

        /// The heads stored with `hash` (more than one only on a hash collision), by binary search.
        func heads(hash: UInt64) -> [UInt64] {
            var low = 0, high = count
            while low < high {
                let mid = (low + high) / 2
                if self.hash(mid) < hash { low = mid + 1 } else { high = mid }
            }
            var result: [UInt64] = []
            while low < count, self.hash(low) == hash {
                result.append(head(low))
                low += 1
            }
            return result
        }
    }

    /// Writes the summary of the append `first…last` (the caller's write transaction):
    /// `heads` are the streams it touched (delivery ordinal, recipient, head after the append);
    /// `deliveries` the entries of the deliveries it touched, by UTF-8 id.
    static func write(first: UInt64, last: UInt64, touched: [UInt32], heads: [(hash: UInt64, head: UInt64)],
                      deliveries: [(name: [UInt8], entry: DeliveryEntry)], _ txn: borrowing Transaction, _ tables: Tables) throws {
        guard let tailStreams = tables.tailStreams, let currentCounters = tables.currentCounters else { return }
        try txn.put(tailStreams, key: Key.u64(last), value: streamsValue(first: first, deliveries: touched, heads), mode: .append)
        for (name, entry) in deliveries { try txn.put(currentCounters, key: name, value: entry.bytes) }
    }

    /// Removes the `tailStreams` entries of the appends a checkpoint at `checkpoint` covers.
    static func removeCovered(upTo checkpoint: UInt64, _ txn: borrowing Transaction, _ tables: Tables) throws {
        guard let tailStreams = tables.tailStreams else { return }
        var covered: [[UInt8]] = []
        try txn.scan(tailStreams) { k, _ in
            guard Key.readU64(k) <= checkpoint else { return false }
            covered.append(Array(k))
            return true
        }
        for k in covered { try txn.delete(tailStreams, key: k) }
    }

    /// Clears both tables (a re-projection: the counters change with the rule table, and the
    /// checkpoint then covers the whole log).
    static func clear(_ txn: borrowing Transaction, _ tables: Tables) throws {
        if let t = tables.currentCounters { try txn.clear(t) }
        if let t = tables.tailStreams { try txn.clear(t) }
    }
}
