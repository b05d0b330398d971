import LMDBKit

/// The `duplicates` table: a bounded summary of events received again (no-op appends), for
/// `audit` — per recorded event, how many times it was received again, first and last when.
///
/// A re-sent event is not appended (the log is idempotent), and its receipt must not cost the
/// storage a new entry per arrival either: receipts are grouped per delivery in chunks of at most
/// ``chunkSize`` recorded positions, keyed by the chunk's first position, and a chunk received again
/// is updated in place (counts added, the last instant moved). Re-ingesting the same feed again
/// therefore rewrites the same entries instead of adding new ones; a different batching of the
/// same events adds at most one summary per event and batching (about 5 bytes).
///
/// | key | value |
/// |---|---|
/// | delivery ordinal u32 BE + first original position u64 BE | varint base instant (ms since the epoch, UTC, `recordedAt` of the first receipt in the chunk), varint count, then per original position in increasing order: varint position delta (from the previous, the first from the key's), varint times received again, varint first receipt − base (ms), varint last − first receipt (ms) |
///
/// Keys of 20 bytes (delivery + original position + arrival ms, value: varint times) are the
/// layout before this one, one entry per arrival; they are still read.
enum DuplicateReceipts {
    /// Most positions in one entry (keeps an entry under LMDB's overflow threshold in practice).
    static let chunkSize = 256

    /// One recorded event's receipts.
    struct Summary: Sendable, Hashable {
        var original: UInt64
        var times: UInt64
        var first: Instant
        var last: Instant
    }

    /// Records that the events at `originals` (delivery ordinal, original position → times received
    /// again in this batch) were received again at `at` (the batch's `recordedAt`).
    static func record(_ originals: [(delivery: UInt32, original: UInt64, times: UInt64)], at: Instant,
                       _ txn: borrowing Transaction, _ table: Database) throws {
        let sorted = originals.sorted { ($0.delivery, $0.original) < ($1.delivery, $1.original) }
        var start = 0
        while start < sorted.count {
            var end = start + 1
            while end < sorted.count, end - start < chunkSize, sorted[end].delivery == sorted[start].delivery { end += 1 }
            var key = ByteWriter(capacity: 12)
            key.u32be(sorted[start].delivery)
            key.u64be(sorted[start].original)
            var entries: [UInt64: Summary] = [:]
            if let stored = try txn.withValue(table, key: key.bytes, { try decode(UnsafeRawBufferPointer($0), first: sorted[start].original) }) {
                for s in stored { entries[s.original] = s }
            }
            for r in sorted[start..<end] {
                var s = entries[r.original] ?? Summary(original: r.original, times: 0, first: at, last: at)
                s.times += r.times
                s.first = min(s.first, at)
                s.last = max(s.last, at)
                entries[r.original] = s
            }
            try txn.put(table, key: key.bytes, value: encode(entries.values.sorted { $0.original < $1.original }, first: sorted[start].original))
            start = end
        }
    }

    /// Every recorded event of delivery `ordinal` received again, by original position.
    static func read(delivery ordinal: UInt32, _ txn: borrowing Transaction, _ table: Database) throws -> [Summary] {
        var merged: [UInt64: Summary] = [:]
        func add(_ s: Summary) {
            guard var m = merged[s.original] else { merged[s.original] = s; return }
            m.times += s.times
            m.first = min(m.first, s.first)
            m.last = max(m.last, s.last)
            merged[s.original] = m
        }
        var prefix = ByteWriter(capacity: 4)
        prefix.u32be(ordinal)
        try txn.scan(table, from: prefix.bytes) { k, v in
            guard k.count >= 12, Key.readU32(k) == ordinal else { return false }
            let first = Key.readU64(UnsafeRawBufferPointer(rebasing: k[4..<12]))
            if k.count == 20 {  // the earlier layout: one entry per arrival
                var r = ByteReader(v)
                let at = Instant(millisecondsSinceEpoch: Int64(bitPattern: Key.readU64(UnsafeRawBufferPointer(rebasing: k[12...]))))
                add(Summary(original: first, times: try r.varint(), first: at, last: at))
            } else {
                for s in try decode(v, first: first) { add(s) }
            }
            return true
        }
        return merged.values.sorted { $0.original < $1.original }
    }

    /// Every entry of the table, in key order, for `verify`: `body` gets the key's delivery ordinal
    /// and the entry's receipts, or the reason the entry cannot be read (a key of another length, a
    /// value that does not decode); the table's own order is checked by LMDB.
    static func scanAll(_ txn: borrowing Transaction, _ table: Database,
                        _ body: (_ delivery: UInt32, _ key: UInt64, Result<[Summary], CorruptRecordError>) throws -> Void) throws {
        try txn.scan(table) { k, v in
            guard k.count == 12 || k.count == 20 else {
                try body(k.count >= 4 ? Key.readU32(k) : 0, 0, .failure(CorruptRecordError(what: "a key of \(k.count) bytes (12 or 20 expected)")))
                return true
            }
            let delivery = Key.readU32(k)
            let first = Key.readU64(UnsafeRawBufferPointer(rebasing: k[4..<12]))
            if k.count == 20 {  // the earlier layout: one entry per arrival
                let at = Instant(millisecondsSinceEpoch: Int64(bitPattern: Key.readU64(UnsafeRawBufferPointer(rebasing: k[12...]))))
                var r = ByteReader(v)
                do {
                    let times = try r.varint()
                    try body(delivery, first, .success([Summary(original: first, times: times, first: at, last: at)]))
                } catch let e as CorruptRecordError {
                    try body(delivery, first, .failure(e))
                }
            } else {
                do {
                    let summaries = try decode(v, first: first)
                    try body(delivery, first, .success(summaries))
                } catch let e as CorruptRecordError {
                    try body(delivery, first, .failure(e))
                }
            }
            return true
        }
    }

    static func encode(_ summaries: [Summary], first: UInt64) -> [UInt8] {
        let base = summaries.map(\.first).min() ?? Instant(millisecondsSinceEpoch: 0)
        var w = ByteWriter(capacity: 8 + 6 * summaries.count)
        w.varint(UInt64(bitPattern: base.millisecondsSinceEpoch))
        w.varint(UInt64(summaries.count))
        var previous = first
        for s in summaries {
            w.varint(s.original - previous)
            previous = s.original
            w.varint(s.times)
            w.varint(UInt64(s.first.millisecondsSinceEpoch - base.millisecondsSinceEpoch))
            w.varint(UInt64(s.last.millisecondsSinceEpoch - s.first.millisecondsSinceEpoch))
        }
        return w.bytes
    }

    static func decode(_ bytes: UnsafeRawBufferPointer, first: UInt64) throws(CorruptRecordError) -> [Summary] {
        var r = ByteReader(bytes)
        let base = Int64(bitPattern: try r.varint())
        let count = try r.varint()
        guard count <= UInt64(bytes.count) else { throw CorruptRecordError(what: "a duplicates entry claims \(count) receipts in \(bytes.count) bytes") }
        var out: [Summary] = []
        var position = first
        for _ in 0..<count {
            let (p, overflow) = position.addingReportingOverflow(try r.varint())
            let times = try r.varint()
            let firstOffset = try r.varint(), lastOffset = try r.varint()
            guard !overflow, firstOffset < 1 << 50, lastOffset < 1 << 50 else {
                throw CorruptRecordError(what: "a duplicates entry holds a position or an instant out of range")
            }
            position = p
            let firstAt = Instant(millisecondsSinceEpoch: base &+ Int64(firstOffset))
            out.append(Summary(original: p, times: times, first: firstAt, last: Instant(millisecondsSinceEpoch: firstAt.millisecondsSinceEpoch &+ Int64(lastOffset))))
        }
        return out
    }
}
