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
/// | delivery ordinal u32 BE + first original position u64 BE | byte 0 (the layout with a digest), varint base instant (ms since the epoch, UTC, `recordedAt` of the first receipt in the chunk), varint count (≥ 1), then per original position in increasing order: varint position delta (from the previous, the first from the key's: 0), varint times received again (≥ 1), varint first receipt − base (ms), varint last − first receipt (ms); then an 8-byte digest (FNV-1a 64 of the key and the bytes before it, big-endian) |
///
/// The entries are not in the log, so the hash chain does not cover them: the digest makes a changed
/// byte an error (`verify`, `audit`) rather than another count or instant. Values without the leading
/// 0 and the digest (written before 2026-12-05; their base instant's varint never starts with 0) are
/// still read, with the same structural checks.
///
/// Keys of 20 bytes (delivery + original position + arrival ms, value: varint times) are the
/// layout before this one, one entry per arrival; they are still read.
enum DuplicateReceipts {
    /// Most positions in one entry (keeps an entry under LMDB's overflow threshold in practice).
    static let chunkSize = 256
    /// The most receipts of one event an entry may count (2^40: a trillion arrivals): more is damage,
    /// and sums of entries stay far from overflowing (a tester's 2^64 − 1 trapped `audit`).
    static let maximumTimes: UInt64 = 1 << 40

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
            if let stored = try txn.withValue(table, key: key.bytes, { v in try key.bytes.withUnsafeBytes { try decode(v, first: sorted[start].original, key: $0) } }) {
                for s in stored { entries[s.original] = s }
            }
            for r in sorted[start..<end] {
                var s = entries[r.original] ?? Summary(original: r.original, times: 0, first: at, last: at)
                s.times = min(s.times + r.times, maximumTimes)  // a trillion arrivals: counted as the most
                s.first = min(s.first, at)
                s.last = max(s.last, at)
                entries[r.original] = s
            }
            try txn.put(table, key: key.bytes, value: encode(entries.values.sorted { $0.original < $1.original }, first: sorted[start].original, key: key.bytes))
            start = end
        }
    }

    /// Every recorded event of delivery `ordinal` received again, by original position.
    static func read(delivery ordinal: UInt32, _ txn: borrowing Transaction, _ table: Database) throws -> [Summary] {
        var merged: [UInt64: Summary] = [:]
        func add(_ s: Summary) {
            guard var m = merged[s.original] else { merged[s.original] = s; return }
            let (sum, overflow) = m.times.addingReportingOverflow(s.times)  // each ≤ 2^40; never a trap
            m.times = overflow ? .max : sum
            m.first = min(m.first, s.first)
            m.last = max(m.last, s.last)
            merged[s.original] = m
        }
        var prefix = ByteWriter(capacity: 4)
        prefix.u32be(ordinal)
        try txn.scan(table, from: prefix.bytes) { k, v in
            guard k.count >= 4, Key.readU32(k) == ordinal else { return false }
            do {
                for s in try entry(key: k, value: v).receipts { add(s) }
            } catch let error as CorruptRecordError {
                let first = k.count >= 12 ? Key.readU64(UnsafeRawBufferPointer(rebasing: k[4..<12])) : 0
                throw LedgerError.corrupt(position: first == 0 ? nil : first,
                                          what: "the duplicates entry of delivery ordinal \(ordinal) at position \(first) is damaged (\(error.what)): `ledger verify` names every damaged entry")
            }
            return true
        }
        return merged.values.sorted { $0.original < $1.original }
    }

    /// One entry: its key's delivery ordinal and first position, and its receipts.
    /// - Throws: ``CorruptRecordError`` for a key of another length than 12 (or 20, the layout of one
    ///   entry per arrival, still read) or a value that does not decode (``decode(_:first:key:)``).
    static func entry(key k: UnsafeRawBufferPointer, value v: UnsafeRawBufferPointer) throws(CorruptRecordError)
        -> (delivery: UInt32, first: UInt64, receipts: [Summary]) {
        guard k.count == 12 || k.count == 20 else { throw CorruptRecordError(what: "a key of \(k.count) bytes (12 or 20 expected)") }
        let delivery = Key.readU32(k)
        let first = Key.readU64(UnsafeRawBufferPointer(rebasing: k[4..<12]))
        if k.count == 20 {  // the earlier layout: one entry per arrival
            let at = Instant(millisecondsSinceEpoch: Int64(bitPattern: Key.readU64(UnsafeRawBufferPointer(rebasing: k[12...]))))
            var r = ByteReader(v)
            let times = try r.varint()
            guard times >= 1, times <= maximumTimes, r.isAtEnd else { throw CorruptRecordError(what: "an entry of the one-per-arrival layout that is not one count") }
            return (delivery, first, [Summary(original: first, times: times, first: at, last: at)])
        }
        return (delivery, first, try decode(v, first: first, key: k))
    }

    /// Every entry of the table, in key order, for `verify`: `body` gets the key's delivery ordinal
    /// and first position (0 when the key is too short) and the entry's receipts, or the reason it
    /// cannot be read.
    static func scanAll(_ txn: borrowing Transaction, _ table: Database,
                        _ body: (_ delivery: UInt32, _ key: UInt64, Result<[Summary], CorruptRecordError>) throws -> Void) throws {
        try txn.scan(table) { k, v in
            do {
                let e = try entry(key: k, value: v)
                try body(e.delivery, e.first, .success(e.receipts))
            } catch let error as CorruptRecordError {
                let first = k.count >= 12 ? Key.readU64(UnsafeRawBufferPointer(rebasing: k[4..<12])) : 0
                try body(k.count >= 4 ? Key.readU32(k) : 0, first, .failure(error))
            }
            return true
        }
    }

    /// The value of the entry under `key` (its delivery ordinal and `first`) holding `summaries`.
    static func encode(_ summaries: [Summary], first: UInt64, key: [UInt8]) -> [UInt8] {
        let base = summaries.map(\.first).min() ?? Instant(millisecondsSinceEpoch: 0)
        var w = ByteWriter(capacity: 17 + 6 * summaries.count)
        w.bytes.append(0)
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
        w.u64be(digest(key: key, value: w.bytes))
        return w.bytes
    }

    /// FNV-1a 64 over the key's bytes then the value's (without its digest).
    static func digest(key: [UInt8], value: some Collection<UInt8>) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in key { h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01b3 }
        for b in value { h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01b3 }
        return h
    }

    /// The receipts of the entry under `key` (delivery ordinal u32 BE + `first` u64 BE).
    /// - Throws: ``CorruptRecordError`` when the value is not one ``encode(_:first:key:)`` writes: its
    ///   digest differs, it holds no receipt or a receipt of none, its positions do not start at the
    ///   key's and increase, or bytes are left over.
    static func decode(_ bytes: UnsafeRawBufferPointer, first: UInt64, key: UnsafeRawBufferPointer) throws(CorruptRecordError) -> [Summary] {
        var body = bytes
        if let marker = bytes.first, marker == 0 {
            guard bytes.count >= 9 else { throw CorruptRecordError(what: "a duplicates entry of \(bytes.count) bytes") }
            let stored = Key.readU64(UnsafeRawBufferPointer(rebasing: bytes[(bytes.count - 8)...]))
            guard digest(key: Array(key), value: bytes[..<(bytes.count - 8)]) == stored else {
                throw CorruptRecordError(what: "a duplicates entry does not match its digest")
            }
            body = UnsafeRawBufferPointer(rebasing: bytes[1..<(bytes.count - 8)])
        }
        var r = ByteReader(body)
        let base = Int64(bitPattern: try r.varint())
        let count = try r.varint()
        guard count >= 1, count <= UInt64(body.count) else { throw CorruptRecordError(what: "a duplicates entry claims \(count) receipts in \(body.count) bytes") }
        var out: [Summary] = []
        var position = first
        for n in 0..<count {
            let delta = try r.varint()
            let (p, overflow) = position.addingReportingOverflow(delta)
            let times = try r.varint()
            let firstOffset = try r.varint(), lastOffset = try r.varint()
            guard !overflow, firstOffset < 1 << 50, lastOffset < 1 << 50 else {
                throw CorruptRecordError(what: "a duplicates entry holds a position or an instant out of range")
            }
            guard (n == 0) == (delta == 0) else {
                throw CorruptRecordError(what: n == 0 ? "a duplicates entry's first position is not its key's" : "a duplicates entry names position \(p) twice")
            }
            guard times >= 1 else { throw CorruptRecordError(what: "a duplicates entry counts no receipt of position \(p)") }
            guard times <= maximumTimes else { throw CorruptRecordError(what: "a duplicates entry counts \(times) receipts of position \(p)") }
            position = p
            let firstAt = Instant(millisecondsSinceEpoch: base &+ Int64(firstOffset))
            out.append(Summary(original: p, times: times, first: firstAt, last: Instant(millisecondsSinceEpoch: firstAt.millisecondsSinceEpoch &+ Int64(lastOffset))))
        }
        guard r.isAtEnd else { throw CorruptRecordError(what: "a duplicates entry has bytes after its receipts") }
        return out
    }

    /// What is wrong with receipt `s` of delivery ordinal `delivery`, given the record it names (its
    /// stream's delivery ordinal, when known, and when it was recorded), or `nil`: the event must be of
    /// that delivery, and received again no earlier than it was recorded and no later than `now` (a
    /// day of clock difference allowed).
    static func problem(_ s: Summary, delivery: UInt32, recordDelivery: UInt32?, recordedAt: Instant, now: Instant) -> String? {
        if let recordDelivery, recordDelivery != delivery { return "the event there is of delivery ordinal \(recordDelivery)" }
        if s.last < s.first || s.first < recordedAt || s.last > now.adding(seconds: 86_400) {
            return "has receipts from \(s.first.rfc3339) to \(s.last.rfc3339), the event was recorded at \(recordedAt.rfc3339)"
        }
        return nil
    }
}
