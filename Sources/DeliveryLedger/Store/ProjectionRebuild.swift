import LMDBKit

/// A rebuild of the whole persisted projection from the log, over dense arrays (no per-event
/// dictionary, no random-key write): what re-projection costs is one sequential scan of the log
/// plus sorted bulk loads.
///
/// 1. the `streams` table gives each stream ordinal its delivery (a dense array);
/// 2. one cursor scan of `log` collects each message event's fold item (``RecordCodec/FoldView``;
///    a text-qualified failure is decoded in full and re-qualified with the rule table);
/// 3. a counting sort groups the items by stream, in log order;
/// 4. per stream, in ordinal order: the fold (``MessageState``) is written to `messageState`
///    (``StateBlock``s) with `MDB_APPEND` and added to its delivery's counters;
/// 5. per delivery, in ordinal order: every stream's valid-time steps, one group per transaction
///    (run of equal `recordedAt`, tagged with its last position, as appends write them), sorted by
///    key and bulk-loaded with `MDB_APPEND`, then the minute buckets the same way.
///
/// The tables must be empty (the caller clears them). Memory: about 40 bytes per message event
/// plus one delivery's steps at a time.
struct ProjectionRebuild {
    let tables: Tables
    let rules: TextQualifier

    /// Rebuilds the projection from positions 1…`last`.
    /// - Returns: the seconds spent on the valid-time steps and buckets (step 5).
    @discardableResult
    func run(_ txn: borrowing Transaction, last: UInt64) throws -> Double {
        // 1. Stream → delivery ordinal; 0 for streams that are not messages.
        var deliveryOf: [UInt32] = [0]
        try txn.scan(tables.streams) { k, v in
            let ordinal = Int(Key.readU32(k))
            var r = ByteReader(v)
            _ = try r.varint()
            _ = try r.varint()
            let d = try r.varint()
            let recipientLength = try r.varint()
            if deliveryOf.count <= ordinal { deliveryOf += [UInt32](repeating: 0, count: ordinal + 1 - deliveryOf.count) }
            deliveryOf[ordinal] = recipientLength > 0 ? UInt32(truncatingIfNeeded: d) : 0
            return true
        }
        // 2. The message events' fold items, in log order.
        var items: [ValidTime.Item] = []
        var itemStream: [UInt32] = []
        try txn.scan(tables.log) { k, v in
            let position = Key.readU64(k)
            let view: RecordCodec.FoldView
            do { view = try RecordCodec.foldView(v) } catch let e as CorruptRecordError {
                throw LedgerError.corrupt(position: position, what: e.what)
            }
            guard view.kind.isMessageEvent else { return true }
            guard Int(view.stream) < deliveryOf.count, deliveryOf[Int(view.stream)] != 0 else {
                throw LedgerError.corrupt(position: position, what: "stream \(view.stream) is not a message stream of the streams table")
            }
            items.append(try Projector.item(view, position: position, record: v, rules: rules))
            itemStream.append(view.stream)
            return true
        }
        // 3. Counting sort by stream (stable: log order within a stream).
        var start = [Int](repeating: 0, count: deliveryOf.count + 1)
        for s in itemStream { start[Int(s) + 1] += 1 }
        for i in 1..<start.count { start[i] += start[i - 1] }
        var order = [Int32](repeating: 0, count: items.count)
        var fill = start
        for (i, s) in itemStream.enumerated() {
            order[fill[Int(s)]] = Int32(i)
            fill[Int(s)] += 1
        }
        itemStream = []
        // 4. States, in stream order; counters per delivery; streams grouped by delivery.
        var counters: [UInt32: DeliveryCounters] = [:]
        var streamsOf: [UInt32: [UInt32]] = [:]
        var states = Tables.StateLoader(tables)
        for s in 1..<deliveryOf.count where start[s + 1] > start[s] {
            var state = MessageState()
            for i in start[s]..<start[s + 1] {
                let item = items[Int(order[i])]
                state.apply(item.mark, isFinal: item.isFinal)
            }
            let d = deliveryOf[s]
            try states.add(UInt32(s), state, txn)
            counters[d, default: DeliveryCounters()].messages += 1
            counters[d]!.add(state.summary, sign: 1)
            streamsOf[d, default: []].append(UInt32(s))
        }
        try states.finish(txn)
        for d in counters.keys.sorted() {
            try txn.put(tables.deliveryCounters, key: Key.u32(d), value: counters[d]!.bytes, mode: .append)
        }
        // 5. Valid-time steps and minute buckets, one delivery at a time.
        let validTimeStart = Ledger.monotonicSeconds()
        for d in streamsOf.keys.sorted() {
            var steps: [(at: Int64, tag: UInt64, change: ValidTime.Vector)] = []
            for s in streamsOf[d]! {
                var history = ValidTime.History()
                var i = start[Int(s)]
                let end = start[Int(s) + 1]
                while i < end {
                    var j = i + 1
                    let recordedAt = items[Int(order[i])].recordedAt
                    while j < end, items[Int(order[j])].recordedAt == recordedAt { j += 1 }
                    let group = (i..<j).map { items[Int(order[$0])] }
                    let tag = group.map(\.mark.position).max()!
                    for step in history.add(group) { steps.append((step.at, tag, step.change)) }
                    i = j
                }
            }
            steps.sort { ($0.at, $0.tag) < ($1.at, $1.tag) }
            var buckets: [(bucket: Int64, sum: ValidTime.Vector)] = []
            var key = ByteWriter(capacity: 20), value = ByteWriter(capacity: 32)
            for step in steps {
                key.bytes.removeAll(keepingCapacity: true)
                value.bytes.removeAll(keepingCapacity: true)
                key.u32be(d); key.u64be(ValidTime.biased(step.at)); key.u64be(step.tag)
                step.change.write(to: &value)
                try key.bytes.withUnsafeBytes { k in
                    try value.bytes.withUnsafeBytes { v in try txn.put(tables.validSteps, key: k, value: v, mode: .append) }
                }
                let b = ValidTime.bucket(step.at)
                if buckets.last?.bucket == b {
                    buckets[buckets.count - 1].sum.add(step.change)
                } else {
                    buckets.append((b, step.change))
                }
            }
            for b in buckets where !b.sum.isZero {
                try txn.put(tables.validBuckets, key: ValidTime.bucketKey(delivery: d, bucket: b.bucket), value: b.sum.bytes, mode: .append)
            }
        }
        let validTimeSeconds = Ledger.monotonicSeconds() - validTimeStart
        try txn.put(tables.meta, key: Tables.checkpointKey, value: Key.u64(last))
        try txn.put(tables.meta, key: Tables.rulesKey, value: Array(rules.table.version.utf8))
        try txn.put(tables.meta, key: Tables.rulesDigestKey, value: Array(rules.tableDigest.utf8))
        return validTimeSeconds
    }
}
