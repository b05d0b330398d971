import LMDBKit

/// Folds new log records into the persisted projection (per-message state, per-delivery
/// counters) inside a write transaction, then writes what changed with the checkpoint.
struct Projector {
    private var states: [UInt32: (state: MessageState, delivery: UInt32)] = [:]
    private var counters: [UInt32: DeliveryCounters] = [:]
    /// The rule table that (re-)qualifies text-qualified failures.
    let rules: TextQualifier

    init(rules: TextQualifier) { self.rules = rules }

    /// The event as the projection sees it: a failure qualified by the text rules (its qualifier is a
    /// ``TextQualification/qualifierTag``) is qualified again with the current table, so that a new
    /// table re-qualifies by re-projection and never by rewriting events (domain.md §2, §5.3).
    /// Kind and finality stay as recorded; a non-final failure is never hard.
    static func requalified(_ e: Event, with rules: TextQualifier) -> Event {
        guard e.kind == .bounce || e.kind == .retry || e.kind == .timeout,
              let tag = e.qualifier, TextQualification.isTextTag(tag) else { return e }
        var copy = e
        let r = rules.qualify(text: e.response ?? "", enhancedStatus: e.enhancedStatus, replyCode: e.smtpCode)
        let isFinal = e.kind == .timeout || (e.kind == .bounce && e.final)
        copy.qualification = isFinal && r.final ? r.qualification : r.qualification.temporary
        copy.qualifier = r.qualifierTag
        return copy
    }

    /// Folds one message event at `position` of stream `stream` (a message of delivery `delivery`).
    mutating func apply(_ e: Event, position: UInt64, stream: UInt32, delivery: UInt32,
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
        c.add(state.summary, sign: -1)
        state.apply(Self.requalified(e, with: rules), position: position)
        c.add(state.summary, sign: 1)
        states[stream] = (state, delivery)
        counters[delivery] = c
    }

    private func loadCounters(_ delivery: UInt32, _ txn: borrowing Transaction, _ tables: Tables) throws -> DeliveryCounters {
        try txn.withValue(tables.deliveryCounters, key: Key.u32(delivery)) { try DeliveryCounters(bytes: $0) } ?? DeliveryCounters()
    }

    /// Writes the changed states and counters and sets the checkpoint to `checkpoint`.
    func write(_ txn: borrowing Transaction, _ tables: Tables, checkpoint: UInt64) throws {
        for (stream, entry) in states.sorted(by: { $0.key < $1.key }) {
            try txn.put(tables.messageState, key: Key.u32(stream), value: StateCodec.encode(entry.state))
        }
        for (delivery, c) in counters {
            try txn.put(tables.deliveryCounters, key: Key.u32(delivery), value: c.bytes)
        }
        try txn.put(tables.meta, key: Tables.checkpointKey, value: Key.u64(checkpoint))
        try txn.put(tables.meta, key: Tables.rulesKey, value: Array(rules.table.version.utf8))
    }
}
