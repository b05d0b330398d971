import LMDBKit

/// Folds new log records into the persisted projection (per-message state, per-delivery
/// counters) inside a write transaction, then writes what changed with the checkpoint.
struct Projector {
    private var states: [UInt32: (state: MessageState, delivery: UInt32)] = [:]
    private var counters: [UInt32: DeliveryCounters] = [:]
    /// Per stream touched: its events before this projector saw it, and the ones it folded since
    /// (for the valid-time steps, ``ValidTime``).
    private var histories: [UInt32: (delivery: UInt32, before: [ValidTime.Item], added: [ValidTime.Item])] = [:]
    /// The rule table that (re-)qualifies text-qualified failures.
    let rules: TextQualifier

    init(rules: TextQualifier) { self.rules = rules }

    /// The event as the projection sees it: a failure qualified by the text rules (its qualifier is a
    /// ``TextQualification/qualifierTag``) is qualified again with the current table, so that a new
    /// table re-qualifies by re-projection and never by rewriting events (domain.md §2, §5.3).
    /// Kind and finality stay as recorded; a non-final failure is never hard; a timeout is soft and
    /// never of undefined reason (``Qualification/forTimeout``), as at ingest.
    static func requalified(_ e: Event, with rules: TextQualifier) -> Event {
        guard e.kind == .bounce || e.kind == .retry || e.kind == .timeout,
              let tag = e.qualifier, TextQualification.isTextTag(tag) else { return e }
        var copy = e
        let r = rules.qualify(text: e.response ?? "", enhancedStatus: e.enhancedStatus, replyCode: e.smtpCode)
        let isFinal = e.kind == .timeout || (e.kind == .bounce && e.final)
        copy.qualification = isFinal && r.final ? r.qualification : r.qualification.temporary
        if e.kind == .timeout { copy.qualification = copy.qualification?.forTimeout }
        copy.qualifier = r.qualifierTag
        return copy
    }

    /// Folds one message event at `position` of stream `stream` (a message of delivery `delivery`),
    /// recorded at `recordedAt`. A stream that already had events must have been given them first
    /// (``prime(stream:delivery:before:)``: the caller walks the chain once, for its ids too); an
    /// unprimed stream is new.
    mutating func apply(_ e: Event, position: UInt64, recordedAt: Instant, stream: UInt32, delivery: UInt32,
                        _ txn: borrowing Transaction, _ tables: Tables) throws {
        var c = try counters[delivery] ?? loadCounters(delivery, txn, tables)
        var state: MessageState
        if let cached = states[stream] {
            state = cached.state
        } else if let stored = try txn.withValue(tables.messageState, key: Key.u32(stream), { try StateCodec.decode($0) }) {
            state = stored
        } else {
            state = MessageState()
            c.messages += 1
            c.add(state.summary, sign: 1)
        }
        let projected = Self.requalified(e, with: rules)
        c.add(state.summary, sign: -1)
        state.apply(projected, position: position)
        c.add(state.summary, sign: 1)
        states[stream] = (state, delivery)
        counters[delivery] = c
        if histories[stream] == nil { histories[stream] = (delivery, [], []) }
        histories[stream]!.added.append(ValidTime.Item(projected, position: position, recordedAt: recordedAt))
    }

    /// Walks a stream's chain from `head` back to its first record, with each record's fold view
    /// and bytes (valid only during the call).
    static func walk(from head: UInt64, _ txn: borrowing Transaction, _ tables: Tables,
                     _ body: (UInt64, RecordCodec.FoldView, UnsafeRawBufferPointer) throws -> Void) throws {
        var p = head
        while p != 0 {
            let position = p
            guard let previous = try txn.withValue(tables.log, key: Key.u64(position), { b -> UInt64 in
                let view = try RecordCodec.foldView(b)
                try body(position, view, b)
                return view.previous
            }) else {
                throw LedgerError.corrupt(position: position, what: "stream chain points to a missing record")
            }
            guard previous < position else { throw LedgerError.corrupt(position: position, what: "stream chain does not go backwards") }
            p = previous
        }
    }

    /// The valid-time item of a stored record: from its fold view, or, when its failure was
    /// qualified by the text rules, from the full record re-qualified with `rules`.
    static func item(_ view: RecordCodec.FoldView, position: UInt64, record: UnsafeRawBufferPointer, rules: TextQualifier) throws -> ValidTime.Item {
        guard view.textQualified else { return ValidTime.Item(view, position: position) }
        return ValidTime.Item(requalified(try RecordCodec.decode(record).event, with: rules), position: position, recordedAt: view.recordedAt)
    }

    /// Gives the events a stream had before this projector saw it (the caller walked its chain),
    /// sparing the projector its own walk.
    mutating func prime(stream: UInt32, delivery: UInt32, before: [ValidTime.Item]) {
        if histories[stream] == nil { histories[stream] = (delivery, before, []) }
    }

    private func loadCounters(_ delivery: UInt32, _ txn: borrowing Transaction, _ tables: Tables) throws -> DeliveryCounters {
        try txn.withValue(tables.deliveryCounters, key: Key.u32(delivery)) { try DeliveryCounters(bytes: $0) } ?? DeliveryCounters()
    }

    /// Writes the changed states, counters and valid-time steps, and sets the checkpoint to
    /// `checkpoint`. The projector is empty afterwards.
    mutating func write(_ txn: borrowing Transaction, _ tables: Tables, checkpoint: UInt64) throws {
        for (stream, entry) in states.sorted(by: { $0.key < $1.key }) {
            try txn.put(tables.messageState, key: Key.u32(stream), value: StateCodec.encode(entry.state))
        }
        for (delivery, c) in counters {
            try txn.put(tables.deliveryCounters, key: Key.u32(delivery), value: c.bytes)
        }
        try writeSteps(txn, tables)
        try txn.put(tables.meta, key: Tables.checkpointKey, value: Key.u64(checkpoint))
        try txn.put(tables.meta, key: Tables.rulesKey, value: Array(rules.table.version.utf8))
        try txn.put(tables.meta, key: Tables.rulesDigestKey, value: Array(rules.tableDigest.utf8))
        states = [:]
        counters = [:]
        histories = [:]
    }

    /// For each touched stream and each transaction (run of equal `recordedAt`) among its new events:
    /// the steps it adds, tagged with its last position, and their sums into the minute buckets.
    private func writeSteps(_ txn: borrowing Transaction, _ tables: Tables) throws {
        struct BucketKey: Hashable, Comparable {
            var delivery: UInt32, bucket: Int64
            static func < (a: BucketKey, b: BucketKey) -> Bool { (a.delivery, a.bucket) < (b.delivery, b.bucket) }
        }
        var buckets: [BucketKey: ValidTime.Vector] = [:]
        for (_, h) in histories.sorted(by: { $0.key < $1.key }) {
            var history = ValidTime.History(h.before)
            var start = 0
            while start < h.added.count {
                var end = start + 1
                while end < h.added.count, h.added[end].recordedAt == h.added[start].recordedAt { end += 1 }
                let group = Array(h.added[start..<end])
                let tag = group.map(\.mark.position).max()!
                for step in history.add(group) {
                    try txn.put(tables.validSteps, key: ValidTime.stepKey(delivery: h.delivery, at: step.at, tag: tag), value: step.change.bytes)
                    buckets[BucketKey(delivery: h.delivery, bucket: ValidTime.bucket(step.at)), default: ValidTime.Vector()].add(step.change)
                }
                start = end
            }
        }
        for (b, change) in buckets.sorted(by: { $0.key < $1.key }) {
            let key = ValidTime.bucketKey(delivery: b.delivery, bucket: b.bucket)
            var sum = try txn.withValue(tables.validBuckets, key: key) { try ValidTime.Vector(bytes: $0) } ?? ValidTime.Vector()
            sum.add(change)
            if sum.isZero {
                _ = try txn.delete(tables.validBuckets, key: key)
            } else {
                try txn.put(tables.validBuckets, key: key, value: sum.bytes)
            }
        }
    }
}
