import LMDBKit

/// A rebuild of the whole persisted projection from the log, over dense arrays (no per-event
/// dictionary, no per-event allocation, no random-key write): what re-projection costs is one
/// sequential scan of the log plus sorted bulk loads.
///
/// 1. the `streams` table gives each stream ordinal its delivery (a dense array);
/// 2. one cursor scan of `log` collects each message event's fold item (``Entry``, from
///    ``RecordCodec/FoldView``; a text-qualified failure is decoded in full and re-qualified with
///    the rule table), in log order; a radix sort groups them by stream, in log order within a
///    stream;
/// 3. per stream, in ordinal order: the fold (``MessageState``) is written to `messageState`
///    (``StateBlock``s) with `MDB_APPEND` and added to its delivery's counters (dense, one row per delivery);
/// 4. per delivery, in ordinal order: every stream's valid-time steps, one group per transaction
///    (run of equal `recordedAt`, tagged with its last position, as appends write them; what
///    ``ValidTime/History`` computes, without its arrays when the group comes after the stream's
///    earlier events in valid time), sorted by key and bulk-loaded with `MDB_APPEND`, then the
///    minute buckets the same way.
///
/// The tables must be empty (the caller clears them). Memory: 32 bytes per message event (twice
/// that during the grouping) and a few per stream, plus one delivery's steps at a time.
struct ProjectionRebuild {
    let tables: Tables
    let rules: TextQualifier
    /// Reads the raw bytes of the records the rules re-qualify.
    let raw: RawDecoder

    /// One valid-time step of a delivery: its key fields and where its vector's bytes lie in the
    /// delivery's byte pool (a plain value, so that sorting moves no reference).
    struct Step {
        var at: Int64
        var tag: UInt64
        var offset: Int
        var length: Int
    }

    /// A message event as the rebuild keeps it: its stream and what the fold and the valid-time
    /// steps need (a ``ValidTime/Item``), in 32 bytes.
    struct Entry {
        var occurredAt: Int64
        var position: UInt64
        var recordedAt: Int64
        var stream: UInt32
        var kind: EventKind
        var qualification: Qualification?
        /// bit 0: final, bit 1: before relay.
        var flags: UInt8

        @inline(__always)
        init(_ v: RecordCodec.FoldView, position: UInt64) {
            occurredAt = v.occurredAt.millisecondsSinceEpoch
            self.position = position
            recordedAt = v.recordedAt.millisecondsSinceEpoch
            stream = v.stream
            kind = v.kind
            qualification = v.qualification
            flags = (v.isFinal ? 1 : 0) | (v.beforeRelay ? 2 : 0)
        }

        init(_ item: ValidTime.Item, stream: UInt32) {
            occurredAt = item.mark.occurredAt.millisecondsSinceEpoch
            position = item.mark.position
            recordedAt = item.recordedAt
            self.stream = stream
            kind = item.mark.kind
            qualification = item.mark.qualification
            flags = (item.isFinal ? 1 : 0) | (item.mark.beforeRelay ? 2 : 0)
        }

        var mark: OutcomeMark {
            @inline(__always) get {
                OutcomeMark(occurredAt: Instant(millisecondsSinceEpoch: occurredAt), position: position, kind: kind,
                            qualification: qualification, beforeRelay: flags & 2 != 0)
            }
        }
        var isFinal: Bool { @inline(__always) get { flags & 1 != 0 } }
        var item: ValidTime.Item { ValidTime.Item(mark: mark, isFinal: isFinal, recordedAt: recordedAt) }
    }

    /// `entries` grouped by stream, stable (log order within a stream): a least-significant-digit
    /// radix sort on the stream ordinal, digits of at most 11 bits (each pass reads sequentially
    /// and writes to at most 2048 places), the digit histograms from `counts` (per stream).
    /// Returns `entries` or a new buffer (the caller deallocates it).
    static func groupByStream(_ entries: UnsafeMutableBufferPointer<Entry>, counts: UnsafeBufferPointer<Int32>) -> UnsafeMutableBufferPointer<Entry> {
        var bits = 0
        while counts.count > 1 << bits { bits += 1 }
        guard bits > 0, entries.count > 1 else { return entries }
        let passes = (bits + 10) / 11
        let digit = (bits + passes - 1) / passes
        let other = UnsafeMutableBufferPointer<Entry>.allocate(capacity: entries.count)
        var source = entries, target = other
        var offsets = [Int](repeating: 0, count: 1 << digit)
        for pass in 0..<passes {
            let shift = pass * digit, mask = (1 << digit) - 1
            offsets.withUnsafeMutableBufferPointer { offsets in
                offsets.update(repeating: 0)
                for s in 0..<counts.count { offsets[(s >> shift) & mask] += Int(counts[s]) }
                var sum = 0
                for d in 0..<offsets.count {
                    let n = offsets[d]
                    offsets[d] = sum
                    sum += n
                }
                for e in source {
                    let d = (Int(e.stream) >> shift) & mask
                    (target.baseAddress! + offsets[d]).initialize(to: e)
                    offsets[d] += 1
                }
            }
            swap(&source, &target)
        }
        // `source` holds the result; the other buffer is free.
        if source.baseAddress == entries.baseAddress { other.deallocate() }
        return source
    }

    /// Rebuilds the projection from positions 1…`last`.
    /// - Returns: the seconds spent on the valid-time steps and buckets (step 4).
    @discardableResult
    func run(_ txn: borrowing Transaction, last: UInt64) throws -> Double {
        // 1. Stream → delivery ordinal; 0 for streams that are not messages.
        let lastOrdinal = try txn.last(tables.streams).map { $0.key.count == 4 ? $0.key.withUnsafeBytes { Int(Key.readU32($0)) } : Int.max } ?? 0
        // Stream ordinals are dense from 1 and every stream has a record: more streams than records
        // is damage (a flipped key byte would otherwise size the arrays below by billions).
        let records = try txn.count(tables.log)
        guard UInt64(records) == last else {
            throw CorruptRecordError(what: "the log ends at position \(last) but holds \(records) records (a gap, or a damaged key)")
        }
        guard lastOrdinal <= Int(clamping: last) else {
            throw CorruptRecordError(what: "the streams table's last key (\(lastOrdinal == Int.max ? "not 4 bytes" : "stream \(lastOrdinal)")) exceeds the log's \(last) records")
        }
        var deliveryOf = [UInt32](repeating: 0, count: lastOrdinal + 1)
        try txn.scan(tables.streams) { k, v in
            guard k.count == 4 else { throw CorruptRecordError(what: "the streams table has a key of \(k.count) bytes, not a stream ordinal") }
            let ordinal = Int(Key.readU32(k))
            var r = ByteReader(v)
            _ = try r.varint()
            _ = try r.varint()
            let d = try r.varint()
            let recipientLength = try r.varint()
            // Keys are in order in a sound B-tree, so none exceeds the last; a damaged key can.
            guard ordinal < deliveryOf.count else {
                throw CorruptRecordError(what: "the streams table has stream \(ordinal) before its last key, stream \(lastOrdinal) (a damaged key)")
            }
            deliveryOf[ordinal] = recipientLength > 0 ? UInt32(truncatingIfNeeded: d) : 0
            return true
        }
        let streamCount = deliveryOf.count

        // 2. The message events, in log order, and how many each stream has.
        let counts = UnsafeMutableBufferPointer<Int32>.allocate(capacity: streamCount)
        counts.initialize(repeating: 0)
        defer { counts.deallocate() }
        var entries = UnsafeMutableBufferPointer<Entry>.allocate(capacity: Int(min(last, 1 << 26)) + 1)
        var entryCount = 0
        defer { entries.deallocate() }
        try deliveryOf.withUnsafeBufferPointer { deliveryOf in
            try txn.scan(tables.log) { k, v in
                let position = Key.readU64(k)
                let view: RecordCodec.FoldView
                do { view = try RecordCodec.foldView(v) } catch let e as CorruptRecordError {
                    throw LedgerError.corrupt(position: position, what: e.what)
                }
                guard view.kind.isMessageEvent else { return true }
                let s = Int(view.stream)
                guard s < streamCount, deliveryOf[s] != 0 else {
                    throw LedgerError.corrupt(position: position, what: "stream \(view.stream) is not a message stream of the streams table")
                }
                if entryCount == entries.count {
                    let larger = UnsafeMutableBufferPointer<Entry>.allocate(capacity: entries.count * 2)
                    _ = larger.moveInitialize(fromContentsOf: entries)
                    entries.deallocate()
                    entries = larger
                }
                let entry = view.textQualified
                    ? Entry(try Projector.item(view, position: position, record: v, rules: rules, raw: raw, recipient: {
                        guard let info = try txn.withValue(tables.streams, key: Key.u32(view.stream), { try StreamInfo(ordinal: view.stream, bytes: $0) }) else {
                            throw LedgerError.corrupt(position: position, what: "stream \(view.stream) is not in the streams table")
                        }
                        return info.recipient
                    }), stream: view.stream)
                    : Entry(view, position: position)
                (entries.baseAddress! + entryCount).initialize(to: entry)
                entryCount += 1
                counts[s] &+= 1
                return true
            }
        }
        // Grouped by stream, log order within a stream.
        let grouped = Self.groupByStream(UnsafeMutableBufferPointer(rebasing: entries[0..<entryCount]), counts: UnsafeBufferPointer(counts))
        defer { if grouped.baseAddress != entries.baseAddress { grouped.deallocate() } }
        var start = [Int](repeating: 0, count: streamCount + 1)
        for s in 0..<streamCount { start[s + 1] = start[s] + Int(counts[s]) }

        // 3. States, in stream order; counters per delivery (slots in order of first stream).
        let width = DeliveryCounters.count
        var slotOf = [Int32](repeating: -1, count: streamCount)  // delivery ordinal → slot
        var slotOfLarge: [UInt32: Int32] = [:]  // delivery ordinals past the streams (a damaged streams table)
        var slotDelivery: [UInt32] = []
        var slotStreams: [Int] = []
        var tallies: [Int64] = []
        var streamSlot = [Int32](repeating: -1, count: streamCount)
        var states = Tables.StateLoader(tables)
        let scratch = UnsafeMutableRawPointer.allocate(byteCount: 64 + StateCodec.maxBytes + 10 + width * 20, alignment: 8)
        defer { scratch.deallocate() }
        for s in 1..<max(streamCount, 1) where counts[s] > 0 {
            let d = deliveryOf[s]
            var slot = Int(d) < streamCount ? slotOf[Int(d)] : slotOfLarge[d] ?? -1
            if slot < 0 {
                slot = Int32(slotDelivery.count)
                if Int(d) < streamCount { slotOf[Int(d)] = slot } else { slotOfLarge[d] = slot }
                slotDelivery.append(d)
                slotStreams.append(0)
                tallies.append(contentsOf: repeatElement(0, count: width))
            }
            let i = Int(slot)
            streamSlot[s] = slot
            slotStreams[i] += 1
            var state = MessageState()
            for k in start[s]..<start[s + 1] { state.apply(grouped[k].mark, isFinal: grouped[k].isFinal) }
            let value = scratch + 8
            let n = StateCodec.encode(state, into: value)
            try states.add(UInt32(s), encoded: UnsafeRawBufferPointer(start: value, count: n), txn)
            let summary = state.summary
            tallies[i * width] += 1
            tallies[i * width + DeliveryCounters.categoryIndex(summary.category)] += 1
            if let f = DeliveryCounters.failedIndex(summary) { tallies[i * width + f] += 1 }
            if let h = DeliveryCounters.hardBouncedIndex(summary) { tallies[i * width + h] += 1 }
        }
        try states.finish(txn)
        let slotOrder = slotDelivery.indices.sorted { slotDelivery[$0] < slotDelivery[$1] }
        for slot in slotOrder {
            var c = DeliveryCounters()
            c.values = Array(tallies[slot * width..<(slot + 1) * width])
            try txn.put(tables.deliveryCounters, key: Key.u32(slotDelivery[slot]), value: c.bytes, mode: .append)
        }

        // 4. Valid-time steps and minute buckets, one delivery at a time.
        let validTimeStart = Ledger.monotonicSeconds()
        // Streams by delivery slot, in stream order.
        var slotStart = [Int](repeating: 0, count: slotDelivery.count + 1)
        for i in slotStreams.indices { slotStart[i + 1] = slotStart[i] + slotStreams[i] }
        var streamsBySlot = [UInt32](repeating: 0, count: slotStart[slotDelivery.count])
        do {
            var fill = slotStart
            for s in 1..<max(streamCount, 1) where streamSlot[s] >= 0 {
                streamsBySlot[fill[Int(streamSlot[s])]] = UInt32(s)
                fill[Int(streamSlot[s])] += 1
            }
        }

        var steps: [Step] = []
        var pool = ByteWriter(capacity: 1 << 16)
        var sums = [Int64](repeating: 0, count: width)
        for slot in slotOrder {
            let d = slotDelivery[slot]
            steps.removeAll(keepingCapacity: true)
            pool.bytes.removeAll(keepingCapacity: true)
            // About one step per event, a few bytes each: reserved once rather than grown by copies.
            var events = 0
            for i in slotStart[slot]..<slotStart[slot + 1] { events += Int(counts[Int(streamsBySlot[i])]) }
            steps.reserveCapacity(events + events / 4)
            pool.bytes.reserveCapacity(6 * events)
            for i in slotStart[slot]..<slotStart[slot + 1] {
                let s = Int(streamsBySlot[i])
                Self.addSteps(UnsafeMutableBufferPointer(rebasing: grouped[start[s]..<start[s + 1]]), to: &steps, &pool)
            }
            steps.sort { $0.at != $1.at ? $0.at < $1.at : $0.tag < $1.tag }
            try pool.bytes.withUnsafeBytes { pool in
                try sums.withUnsafeMutableBufferPointer { sums in
                    var bucket = Int64.min, open = false
                    for step in steps {
                        let b = ValidTime.bucket(step.at)
                        if open, b != bucket { try writeBucket(txn, delivery: d, bucket: bucket, sums, scratch) }
                        bucket = b
                        open = true
                        var key = RawWriter(scratch)
                        key.u32be(d)
                        key.u64be(ValidTime.biased(step.at))
                        key.u64be(step.tag)
                        let value = UnsafeRawBufferPointer(rebasing: pool[step.offset..<step.offset + step.length])
                        try txn.put(tables.validSteps, key: key.buffer, value: value, mode: .append)
                        var r = ByteReader(value)
                        for _ in 0..<(try r.varint()) {
                            let index = Int(try r.varint())
                            sums[index] += try r.zigzag()
                        }
                    }
                    if open { try writeBucket(txn, delivery: d, bucket: bucket, sums, scratch) }
                }
            }
        }
        let validTimeSeconds = Ledger.monotonicSeconds() - validTimeStart
        try txn.put(tables.meta, key: Tables.checkpointKey, value: Key.u64(last))
        try txn.put(tables.meta, key: Tables.rulesKey, value: Array(rules.table.version.utf8))
        try txn.put(tables.meta, key: Tables.rulesDigestKey, value: Array(rules.tableDigest.utf8))
        return validTimeSeconds
    }

    /// Appends the minute bucket `bucket` of delivery `delivery` whose sum is `sums` (dense, by
    /// counter index), unless it is zero, and zeroes `sums`. `scratch` has room for the key and
    /// the vector.
    private func writeBucket(_ txn: borrowing Transaction, delivery: UInt32, bucket: Int64, _ sums: UnsafeMutableBufferPointer<Int64>,
                             _ scratch: UnsafeMutableRawPointer) throws {
        var n: UInt64 = 0
        for v in sums where v != 0 { n += 1 }
        guard n > 0 else { return }
        var key = RawWriter(scratch)
        key.u32be(delivery)
        key.u64be(ValidTime.biased(bucket))
        var value = RawWriter(scratch + 16)
        value.varint(n)
        for i in sums.indices where sums[i] != 0 {
            value.varint(UInt64(i))
            value.zigzag(sums[i])
            sums[i] = 0
        }
        try txn.put(tables.validBuckets, key: key.buffer, value: value.buffer, mode: .append)
    }

    /// Appends to `steps` (their vectors' bytes to `pool`, as ``ValidTime/Vector/write(to:)``)
    /// the valid-time steps of one stream whose items are `items`, in log order: group by group
    /// (run of equal `recordedAt`), the steps ``ValidTime/History/add(_:)`` returns, tagged with
    /// the group's last position. Each group is sorted in place by valid time (then position).
    static func addSteps(_ items: UnsafeMutableBufferPointer<Entry>, to steps: inout [Step], _ pool: inout ByteWriter) {
        var state = MessageState()
        var latest = Int64.min
        var i = 0
        while i < items.count {
            let recordedAt = items[i].recordedAt
            var tag = items[i].position
            var j = i + 1
            while j < items.count, items[j].recordedAt == recordedAt {
                tag = max(tag, items[j].position)
                j += 1
            }
            // Insertion sort by (occurredAt, position): a group is one or a few events.
            if j - i > 1 {
                for k in i + 1..<j {
                    let item = items[k]
                    var m = k
                    while m > i, (item.occurredAt, item.position) < (items[m - 1].occurredAt, items[m - 1].position) {
                        items[m] = items[m - 1]
                        m -= 1
                    }
                    items[m] = item
                }
            }
            if i == 0 || items[i].occurredAt > latest {
                // The group comes after every earlier event: the step function goes on from the
                // running fold (the first group starts from no contribution at all).
                var previous: MessageSummary? = i == 0 ? nil : state.summary
                var k = i
                while k < j {
                    let t = items[k].occurredAt
                    while k < j, items[k].occurredAt == t {
                        state.apply(items[k].mark, isFinal: items[k].isFinal)
                        k += 1
                    }
                    let summary = state.summary
                    if summary != previous {
                        appendChange(summary, minus: previous, at: t, tag: tag, to: &steps, &pool)
                        previous = summary
                    }
                }
            } else {
                // A late event: recompute (the order of the items does not matter to the steps).
                let before = items[0..<i].map(\.item), added = items[i..<j].map(\.item)
                for step in ValidTime.difference(before: before, added: added) {
                    let offset = pool.bytes.count
                    step.change.write(to: &pool)
                    steps.append(Step(at: step.at, tag: tag, offset: offset, length: pool.bytes.count - offset))
                }
                for k in i..<j { state.apply(items[k].mark, isFinal: items[k].isFinal) }
            }
            let groupLatest = items[j - 1].occurredAt
            latest = i == 0 ? groupLatest : max(latest, groupLatest)
            i = j
        }
    }

    /// Appends the step `Vector(summary) − Vector(previous)` (``ValidTime/Vector/init(_:)``: unit
    /// entries, indexes ascending; an index in both cancels) unless it is zero.
    @inline(__always)
    private static func appendChange(_ summary: MessageSummary, minus previous: MessageSummary?, at: Int64, tag: UInt64,
                                     to steps: inout [Step], _ pool: inout ByteWriter) {
        let a = (0, DeliveryCounters.categoryIndex(summary.category), DeliveryCounters.failedIndex(summary) ?? Int.max,
                 DeliveryCounters.hardBouncedIndex(summary) ?? Int.max)
        var b = (Int.max, Int.max, Int.max, Int.max)
        if let p = previous {
            b = (0, DeliveryCounters.categoryIndex(p.category), DeliveryCounters.failedIndex(p) ?? Int.max, DeliveryCounters.hardBouncedIndex(p) ?? Int.max)
        }
        @inline(__always) func pick(_ t: (Int, Int, Int, Int), _ i: Int) -> Int { i == 0 ? t.0 : i == 1 ? t.1 : i == 2 ? t.2 : i == 3 ? t.3 : Int.max }
        let offset = pool.bytes.count
        pool.u8(0)  // the pair count (at most 8: one byte), set below
        var n: UInt8 = 0, i = 0, j = 0
        while true {
            let x = pick(a, i), y = pick(b, j)
            if x == Int.max && y == Int.max { break }
            if x < y {
                pool.varint(UInt64(x)); pool.zigzag(1); n += 1; i += 1
            } else if y < x {
                pool.varint(UInt64(y)); pool.zigzag(-1); n += 1; j += 1
            } else {
                i += 1; j += 1
            }
        }
        if n == 0 {
            pool.bytes.removeLast()
            return
        }
        pool.bytes[offset] = n
        steps.append(Step(at: at, tag: tag, offset: offset, length: pool.bytes.count - offset))
    }
}
