import HashTreeCollections
import LMDBKit

/// The projection of the log's **tail**: every record after the persisted checkpoint, folded in
/// memory (the write path of issue "The projection behind the log").
///
/// An append writes only the log (records, `MDB_APPEND`), the hash chain and duplicate receipts.
/// What the projection makes of the new records — stream heads, new deliveries and message
/// streams, per-message states, per-delivery counters, valid-time steps and minute checkpoints — is
/// kept here, and written to the projection tables at a **checkpoint** (``write(_:_:)``, in key
/// order, with the position it covers, in one transaction), so that a B-tree entry touched by many
/// events is written once per checkpoint instead of once per append.
///
/// Every answer combines the persisted projection (positions 1…``base``) with this fold of
/// ``base``+1…``last`` (``ProjectionReader``). The writing process keeps its tail current as it
/// appends; a reader in another process folds the records after the checkpoint itself, in its read
/// transaction, and keeps the result to fold only what is new at its next question. The tail is a
/// pure function of (persisted projection at ``base``, log records after it): a crash loses nothing
/// that was acknowledged, since the log is the truth and the tail is folded again on open.
///
/// A tail is also the shape of one append's changes (a *delta*, ``merge(_:)``): the same fields, on
/// top of the tail it was computed from.
///
/// Its maps are persistent (swift-collections' `TreeDictionary`, a hash-array mapped trie) and its
/// step lists chunked (``StepList``): every reader takes a copy of the shared tail, and when the
/// writer then merges an append's delta, a copy-on-write `Dictionary` or `Array` would be copied
/// whole (the profile of `ledger serve` under load: a quarter of the writer's time), while these
/// copy only the paths and the last chunk they change.
struct Tail: Sendable {
    /// The persisted checkpoint this tail continues: the projection tables cover 1…`base`.
    var base: UInt64
    /// The last position folded (`base` when the tail is empty).
    var last: UInt64
    /// Monotonic seconds when the first record was folded into it (for the checkpoint policy).
    var startedAt: Double?
    /// Deliveries first recorded after the checkpoint: UTF-8 id → ordinal, and back.
    var deliveryOrdinals: TreeDictionary<ByteKey, UInt32> = [:]
    var deliveryNames: TreeDictionary<UInt32, [UInt8]> = [:]
    /// The next delivery and stream ordinals to give.
    var nextDelivery: UInt32
    var nextStream: UInt32
    /// Streams first recorded after the checkpoint: ``Tables/streamIndexKey(delivery:recipient:)`` → ordinal.
    var newStreams: TreeDictionary<ByteKey, UInt32> = [:]
    /// Streams with records after the checkpoint: their entry as it is now (head, count).
    var streams: TreeDictionary<UInt32, StreamInfo> = [:]
    /// Message states changed after the checkpoint (state after the tail's events).
    var states: TreeDictionary<UInt32, MessageState> = [:]
    /// The whole counters of each delivery with message events after the checkpoint.
    var counters: TreeDictionary<UInt32, DeliveryCounters> = [:]
    /// Valid-time steps written after the checkpoint, per delivery ordinal (unsorted).
    var steps: TreeDictionary<UInt32, StepList> = [:]
    /// Changes of the minute checkpoints of the valid time axis, per delivery ordinal and minute.
    var buckets: TreeDictionary<UInt32, TreeDictionary<Int64, ValidTime.Vector>> = [:]
    /// Per delivery ordinal, the recipients of its message streams first recorded after the
    /// checkpoint (``FreshRecipients``: how many, and the first of them in byte order), kept by
    /// ``merge(_:)``: the sending logs' first pages read them instead of every new stream.
    var freshRecipients: TreeDictionary<UInt32, FreshRecipients> = [:]

    /// The message streams a delivery gained after the checkpoint: their number and the smallest
    /// ``kept`` of their recipients in byte order (LMDB's key order, that of the stream index), so
    /// that a page of a delivery's recipients within the first ``kept`` merges them with the stream
    /// index in O(page) rather than sorting every new stream of the tail.
    struct FreshRecipients: Sendable {
        /// How many of the first recipients are kept (the sending logs' pages within them are
        /// fast; a deeper page sorts the tail's new streams of the delivery).
        static let kept = 2_000
        /// The delivery's message streams first recorded after the checkpoint.
        private(set) var count = 0
        /// The smallest `min(count, kept)` of their recipients (normalised address bytes), sorted.
        private(set) var first: [ArraySlice<UInt8>] = []

        /// Whether ``first`` holds every fresh recipient of the delivery.
        var isComplete: Bool { count == first.count }

        /// Adds new recipients (none of them already counted).
        mutating func add(_ new: [ArraySlice<UInt8>]) {
            count += new.count
            var candidates = first.count < Self.kept ? new : new.filter { ByteKey.precedes($0, first[first.count - 1]) }
            guard !candidates.isEmpty else { return }
            candidates.sort(by: { ByteKey.precedes($0, $1) })
            var merged: [ArraySlice<UInt8>] = []
            merged.reserveCapacity(min(first.count + candidates.count, Self.kept))
            var i = 0, j = 0
            while merged.count < Self.kept, i < first.count || j < candidates.count {
                if j == candidates.count || (i < first.count && ByteKey.precedes(first[i], candidates[j])) {
                    merged.append(first[i]); i += 1
                } else {
                    merged.append(candidates[j]); j += 1
                }
            }
            first = merged
        }
    }

    /// One valid-time step (``ValidTime``): instant (ms), tag (position) and change.
    struct Step: Sendable {
        var at: Int64
        var tag: UInt64
        var change: ValidTime.Vector
    }

    /// The steps of one delivery in the order they were added, in chunks of at most ``chunkSize``:
    /// appending to a list shared with a reader's snapshot copies the chunk references and the last
    /// chunk, not every step.
    struct StepList: Sendable, Sequence, ExpressibleByArrayLiteral {
        static let chunkSize = 4096
        private var chunks: [[Step]] = []

        init(arrayLiteral elements: Step...) { append(contentsOf: elements) }

        mutating func append(_ step: Step) {
            if chunks.isEmpty || chunks[chunks.count - 1].count >= Self.chunkSize {
                var chunk: [Step] = []
                chunk.reserveCapacity(Self.chunkSize)
                chunks.append(chunk)
            }
            chunks[chunks.count - 1].append(step)
        }

        mutating func append(contentsOf steps: some Sequence<Step>) {
            for s in steps { append(s) }
        }

        func makeIterator() -> FlattenSequence<[[Step]]>.Iterator { chunks.joined().makeIterator() }
    }

    /// An empty tail after checkpoint `base`, giving ordinals from `nextDelivery`, `nextStream`.
    init(base: UInt64, nextDelivery: UInt32, nextStream: UInt32) {
        self.base = base
        self.last = base
        self.nextDelivery = nextDelivery
        self.nextStream = nextStream
    }

    /// An empty tail after the persisted checkpoint of `txn`'s snapshot.
    init(_ txn: borrowing Transaction, _ tables: Tables) throws {
        let base = try txn.get(tables.meta, key: Tables.checkpointKey).map { $0.withUnsafeBytes { Key.readU64($0) } } ?? 0
        let nextDelivery = (try txn.last(tables.deliveryNames).map { $0.key.withUnsafeBytes { Key.readU32($0) } } ?? 0) + 1
        let nextStream = (try txn.last(tables.streams).map { $0.key.withUnsafeBytes { Key.readU32($0) } } ?? 0) + 1
        self.init(base: base, nextDelivery: nextDelivery, nextStream: nextStream)
    }

    /// The empty delta of an append on top of this tail.
    var emptyDelta: Tail { Tail(base: last, nextDelivery: nextDelivery, nextStream: nextStream) }

    var isEmpty: Bool { last == base }
    var recordCount: UInt64 { last - base }

    /// Adds `delta` (computed on top of this tail: `delta.base == last`).
    mutating func merge(_ delta: Tail) {
        precondition(delta.base == last, "a tail delta merged out of order")
        if isEmpty, !delta.isEmpty { startedAt = delta.startedAt }
        last = delta.last
        // Structural merges of the tries: a subtree only the delta has is linked, not copied.
        deliveryOrdinals.merge(delta.deliveryOrdinals) { $1 }
        deliveryNames.merge(delta.deliveryNames) { $1 }
        nextDelivery = delta.nextDelivery
        nextStream = delta.nextStream
        newStreams.merge(delta.newStreams) { $1 }
        var fresh: [UInt32: [ArraySlice<UInt8>]] = [:]
        for key in delta.newStreams.keys where key.bytes.count > 4 {
            fresh[key.bytes.withUnsafeBytes { Key.readU32($0) }, default: []].append(key.bytes[4...])
        }
        for (d, recipients) in fresh { freshRecipients[d, default: FreshRecipients()].add(recipients) }
        streams.merge(delta.streams) { $1 }
        states.merge(delta.states) { $1 }
        counters.merge(delta.counters) { $1 }
        for (d, s) in delta.steps { steps[d, default: []].append(contentsOf: s) }
        for (d, minutes) in delta.buckets {
            var merged = buckets[d] ?? [:]
            for (m, v) in minutes { merged[m, default: ValidTime.Vector()].add(v) }
            buckets[d] = merged
        }
    }

    /// Adds valid-time steps of delivery `delivery` (each tagged with its group's last position) and
    /// their sums to the minute checkpoints.
    mutating func addSteps(_ new: [Step], delivery: UInt32) {
        guard !new.isEmpty else { return }
        var list = steps[delivery] ?? []
        steps[delivery] = nil
        var minutes = buckets[delivery] ?? [:]
        buckets[delivery] = nil
        var bucket = ValidTime.bucket(new[0].at), sum = ValidTime.Vector()
        for step in new {
            list.append(step)
            // Steps come in runs of one minute: one trie update per run.
            let b = ValidTime.bucket(step.at)
            if b != bucket {
                minutes[bucket, default: ValidTime.Vector()].add(sum)
                bucket = b
                sum = ValidTime.Vector()
            }
            sum.add(step.change)
        }
        minutes[bucket, default: ValidTime.Vector()].add(sum)
        steps[delivery] = list
        buckets[delivery] = minutes
    }

    /// Writes the tail into the projection tables, in key order, and sets the checkpoint to
    /// ``last``: the checkpoint's one transaction (the caller's). Afterwards the persisted
    /// projection covers 1…``last`` and the tail to keep is an empty one after it.
    func write(_ txn: borrowing Transaction, _ tables: Tables, rules: TextQualifier) throws {
        try prepared().write(txn, tables, rules: rules)
    }

    /// The checkpoint's writes, sorted and encoded without a transaction: what only reads this
    /// (immutable) tail, so that a checkpoint can be prepared while appends go on, and its write
    /// transaction — which excludes them — holds only the B-tree work (``Ledger`` in background
    /// checkpoint mode, ``LedgerOptions/checkpointsInBackground``).
    func prepared() -> PreparedCheckpoint {
        var p = PreparedCheckpoint(base: base, last: last)
        p.deliveries = deliveryOrdinals.map { ($0.key.bytes, $0.value) }.sorted { $0.1 < $1.1 }
        p.streamIndex = newStreams.map { ($0.key.bytes, $0.value) }.sorted { ByteKey.precedes($0.0, $1.0) }
        // Pairs encoded as the maps are walked, then sorted by key: one walk of each trie, no
        // lookup per key (a lookup in a trie of a checkpoint's worth of streams was a quarter of
        // the checkpoint's time), and an encoded value is a fraction of the state it encodes.
        p.streams = streams.map { ($0.key, $0.value.bytes) }.sorted { $0.0 < $1.0 }
        p.states = states.map { ($0.key, StateCodec.encode($0.value)) }.sorted { $0.0 < $1.0 }
        p.counters = counters.map { ($0.key, $0.value.bytes) }.sorted { $0.0 < $1.0 }
        for (d, list) in steps.sorted(by: { $0.key < $1.key }) {
            for s in list.sorted(by: { ($0.at, $0.tag) < ($1.at, $1.tag) }) {
                p.steps.append((ValidTime.stepKey(delivery: d, at: s.at, tag: s.tag), s.change.bytes))
            }
        }
        for (d, minutes) in buckets.sorted(by: { $0.key < $1.key }) {
            for (m, change) in minutes.sorted(by: { $0.key < $1.key }) where !change.isZero {
                p.buckets.append((ValidTime.bucketKey(delivery: d, bucket: m), change))
            }
        }
        return p
    }
}

/// A checkpoint of a ``Tail`` ready to write (``Tail/prepared()``): every projection entry the tail
/// changed, in key order, encoded; the minute checkpoints as changes, added to the stored sums in
/// the write transaction.
struct PreparedCheckpoint: Sendable {
    /// The checkpoint the tail continues and the one this writes.
    let base: UInt64
    let last: UInt64
    var deliveries: [(name: [UInt8], ordinal: UInt32)] = []
    var streamIndex: [(key: [UInt8], ordinal: UInt32)] = []
    var streams: [(ordinal: UInt32, value: [UInt8])] = []
    var states: [(ordinal: UInt32, encoded: [UInt8])] = []
    var counters: [(delivery: UInt32, value: [UInt8])] = []
    var steps: [(key: [UInt8], value: [UInt8])] = []
    var buckets: [(key: [UInt8], change: ValidTime.Vector)] = []

    init(base: UInt64, last: UInt64) {
        self.base = base
        self.last = last
    }

    /// Writes the checkpoint in `txn` (which must see the persisted checkpoint at ``base``) and sets
    /// the checkpoint to ``last``.
    func write(_ txn: borrowing Transaction, _ tables: Tables, rules: TextQualifier) throws {
        for (name, ordinal) in deliveries {
            try txn.put(tables.deliveries, key: name, value: Key.u32(ordinal), mode: .insertOnly)
            try txn.put(tables.deliveryNames, key: Key.u32(ordinal), value: name, mode: .append)
        }
        // Each list is in key order: the entries past a table's last key are appended (`MDB_APPEND`:
        // no search, and a full leaf page is split at its end, so such pages fill up instead of
        // half up — new streams' ordinals, their state blocks and most valid-time steps are past it).
        var after = try Self.lastKey(tables.streamIndex, txn)
        for (key, ordinal) in streamIndex {
            let past = after.map { ByteKey.precedes($0, key) } ?? true
            try txn.put(tables.streamIndex, key: key, value: Key.u32(ordinal), mode: past ? .append : .insertOnly)
            if past { after = nil }  // every later key is past it too
        }
        after = try Self.lastKey(tables.streams, txn)
        for (ordinal, value) in streams {
            let key = Key.u32(ordinal)
            let past = after.map { ByteKey.precedes($0, key) } ?? true
            try txn.put(tables.streams, key: key, value: value, mode: past ? .append : .upsert)
            if past { after = nil }
        }
        try tables.writeEncodedStates(states, txn)
        for (d, value) in counters {
            try txn.put(tables.deliveryCounters, key: Key.u32(d), value: value)
        }
        after = try Self.lastKey(tables.validSteps, txn)
        for (key, value) in steps {
            let past = after.map { ByteKey.precedes($0, key) } ?? true
            try txn.put(tables.validSteps, key: key, value: value, mode: past ? .append : .upsert)
            if past { after = nil }
        }
        for (key, change) in buckets {
            var sum = try txn.withValue(tables.validBuckets, key: key) { try ValidTime.Vector(bytes: $0) } ?? ValidTime.Vector()
            sum.add(change)
            if sum.isZero {
                _ = try txn.delete(tables.validBuckets, key: key)
            } else {
                try txn.put(tables.validBuckets, key: key, value: sum.bytes)
            }
        }
        try txn.put(tables.meta, key: Tables.checkpointKey, value: Key.u64(last))
        try AppendSummary.removeCovered(upTo: last, txn, tables)
        try txn.put(tables.meta, key: Tables.rulesKey, value: Array(rules.table.version.utf8))
        try txn.put(tables.meta, key: Tables.rulesDigestKey, value: Array(rules.tableDigest.utf8))
    }

    /// The last key of `table`, `nil` when it is empty.
    static func lastKey(_ table: Database, _ txn: borrowing Transaction) throws -> [UInt8]? {
        try txn.last(table)?.key
    }
}

/// The projection as one snapshot sees it: the persisted tables of a transaction plus the
/// ``Tail`` folded after their checkpoint, up to the transaction's last position. Every query
/// reads the projection through it.
struct ProjectionReader {
    let tables: Tables
    let tail: Tail

    func deliveryOrdinal(_ name: [UInt8], _ txn: borrowing Transaction) throws -> UInt32? {
        if let d = tail.deliveryOrdinals[ByteKey(name)] { return d }
        return try txn.withValue(tables.deliveries, key: name) { Key.readU32($0) }
    }

    func deliveryName(_ ordinal: UInt32, _ txn: borrowing Transaction) throws -> String? {
        if ordinal == 0 { return "" }
        if let n = tail.deliveryNames[ordinal] { return String(decoding: n, as: UTF8.self) }
        return try txn.withValue(tables.deliveryNames, key: Key.u32(ordinal)) { String(decoding: $0, as: UTF8.self) }
    }

    /// The delivery ids in ordinal order (first recorded first).
    func deliveryNames(_ txn: borrowing Transaction) throws -> [(ordinal: UInt32, name: String)] {
        var result: [(ordinal: UInt32, name: String)] = []
        try txn.scan(tables.deliveryNames) { k, v in
            result.append((Key.readU32(k), String(decoding: v, as: UTF8.self)))
            return true
        }
        for (d, n) in tail.deliveryNames.sorted(by: { $0.key < $1.key }) { result.append((d, String(decoding: n, as: UTF8.self))) }
        return result
    }

    func streamOrdinal(delivery: UInt32, recipient: String, _ txn: borrowing Transaction) throws -> UInt32? {
        try streamOrdinal(ByteKey(Tables.streamIndexKey(delivery: delivery, recipient: recipient)), txn)
    }

    /// The stream of a ``Tables/streamIndexKey(delivery:recipient:)``.
    func streamOrdinal(_ key: ByteKey, _ txn: borrowing Transaction) throws -> UInt32? {
        if let s = tail.newStreams[key] { return s }
        return try txn.withValue(tables.streamIndex, key: key.bytes) { Key.readU32($0) }
    }

    func streamInfo(_ ordinal: UInt32, _ txn: borrowing Transaction) throws -> StreamInfo? {
        if let info = tail.streams[ordinal] { return info }
        return try txn.withValue(tables.streams, key: Key.u32(ordinal)) { try StreamInfo(ordinal: ordinal, bytes: $0) }
    }

    func streamInfo(delivery: UInt32, recipient: String, _ txn: borrowing Transaction) throws -> StreamInfo? {
        guard let ordinal = try streamOrdinal(delivery: delivery, recipient: recipient, txn) else { return nil }
        return try streamInfo(ordinal, txn)
    }

    /// The streams of a delivery, in byte order of recipient (its own stream, recipient empty, first).
    func streams(ofDelivery d: UInt32, _ txn: borrowing Transaction) throws -> [(ordinal: UInt32, recipient: String)] {
        var result: [(ordinal: UInt32, recipient: String)] = []
        try txn.scan(tables.streamIndex, from: Key.u32(d)) { k, v in
            guard k.count >= 4, Key.readU32(k) == d else { return false }
            result.append((Key.readU32(v), String(decoding: UnsafeRawBufferPointer(rebasing: k[4...]), as: UTF8.self)))
            return true
        }
        guard !tail.newStreams.isEmpty else { return result }
        var added = false
        for (key, ordinal) in tail.newStreams where key.bytes.count >= 4 && key.bytes.withUnsafeBytes({ Key.readU32($0) }) == d {
            result.append((ordinal, String(decoding: key.bytes[4...], as: UTF8.self)))
            added = true
        }
        if added { result.sort { $0.recipient.utf8.lexicographicallyPrecedes($1.recipient.utf8) } }
        return result
    }

    /// Every stream of recipient `recipient` (normalised), in any delivery: (delivery ordinal, stream ordinal).
    func streams(ofRecipient recipient: String, _ txn: borrowing Transaction) throws -> [(delivery: UInt32, ordinal: UInt32)] {
        var result: [(delivery: UInt32, ordinal: UInt32)] = []
        for (d, _) in try deliveryNames(txn) {
            if let s = try streamOrdinal(delivery: d, recipient: recipient, txn) { result.append((d, s)) }
        }
        return result
    }

    func messageState(_ ordinal: UInt32, _ txn: borrowing Transaction) throws -> MessageState? {
        if let s = tail.states[ordinal] { return s }
        return try tables.messageState(ordinal, txn)
    }

    func counters(_ delivery: UInt32, _ txn: borrowing Transaction) throws -> DeliveryCounters {
        if let c = tail.counters[delivery] { return c }
        return try txn.withValue(tables.deliveryCounters, key: Key.u32(delivery)) { try DeliveryCounters(bytes: $0) } ?? DeliveryCounters()
    }
}
