import LMDBKit

/// Folds new log records into the projection (per-message state, per-delivery counters,
/// valid-time steps): reads what it needs from a ``ProjectionReader`` (persisted tables + tail)
/// and gives what changed as a ``Tail`` delta (``finish(into:)``), written at the next checkpoint.
struct Projector {
    /// A message stream the batch touched, at its slot (the caller's dense index of the streams of
    /// one batch: no per-event dictionary).
    private struct Entry {
        var stream: UInt32
        var delivery: UInt32
        /// Index in `counterValues` of its delivery's counters.
        var counters: Int
        /// Loaded (or created) at its first folded event.
        var state: MessageState?
        /// Its events before this projector saw it, and the ones it folded since (for the
        /// valid-time steps, ``ValidTime``).
        var before: [ValidTime.Item]
        var added: [ValidTime.Item] = []
    }
    /// Indexed by slot; `stream` 0 (never an ordinal) marks a slot without an entry.
    private var entries: [Entry] = []
    /// Slots with an entry, in first-touch order.
    private var touched: [Int] = []
    private var counterIndex: [UInt32: Int] = [:]
    private var counterValues: [(delivery: UInt32, counters: DeliveryCounters)] = []
    /// The rule table that (re-)qualifies text-qualified failures.
    let rules: TextQualifier

    init(rules: TextQualifier) { self.rules = rules }

    /// Room for `streams` slots from the start: the entries array grown by doubling held two copies
    /// of itself at each growth (an append of 50,000 events to 50,000 old streams — the timeouts at a
    /// feed's end — made it the largest allocation of the ingest).
    mutating func reserve(streams: Int) {
        entries.reserveCapacity(streams)
        touched.reserveCapacity(streams)
    }

    /// The event as the projection sees it: a failure qualified by the text rules (its qualifier is a
    /// ``TextQualification/qualifierTag``) is qualified again with the current table, so that a new
    /// table re-qualifies by re-projection and never by rewriting events (domain.md §2, §5.3).
    /// Kind and finality stay as recorded; a non-final failure is never hard; a timeout is soft and
    /// never of undefined reason (``Qualification/forTimeout``), as at ingest.
    static func requalified(_ e: Event, with rules: TextQualifier) -> Event {
        guard let r = requalification(e, with: rules) else { return e }
        var copy = e
        copy.qualification = r.qualification
        copy.qualifier = r.qualifier
        return copy
    }

    /// The qualification and qualifier tag ``requalified(_:with:)`` gives `e`, or `nil` when `e`
    /// is not a failure qualified by the text rules.
    static func requalification(_ e: Event, with rules: TextQualifier) -> (qualification: Qualification, qualifier: String)? {
        guard e.kind == .bounce || e.kind == .retry || e.kind == .timeout,
              let tag = e.qualifier, TextQualification.isTextTag(tag) else { return nil }
        let r = rules.qualify(event: e)
        if let c = e.bounceClass, r.concerns == .recipient, case .failure(let fromClass)? = BounceClassTable.effect(of: c) {
            // A class failure re-qualified by the text only because the text named the sender
            // (``TextQualifier/overridingBounceClass(_:text:enhancedStatus:replyCode:context:)``):
            // with a table whose rule no longer says so, the class decides again.
            var q = fromClass
            if e.kind == .timeout { q = q.forTimeout }
            if !(e.kind == .timeout || (e.kind == .bounce && e.final)) || (EnhancedStatusCode(e.enhancedStatus ?? "")?.isTemporary ?? false)
                || (e.smtpCode.map { (400..<500).contains($0) } ?? false) { q = q.temporary }
            return (q, BounceClassTable.version)
        }
        if e.kind == .timeout, e.source == .dsn {
            // As the DSN reader decides a timeout (domain.md §4: it carries the last error's reason):
            // the diagnostic's own codes and text, without the X.4.7 that only says the MTA gave up;
            // the answer with the status when the text alone says nothing more (found by a tester:
            // the stored event said Refused, the projection Unreachable).
            let command = SMTPCommand.implied(byReply: e.response ?? "", recipient: e.recipient, raw: e.raw)
            let last = rules.qualify(text: e.response ?? "", enhancedStatus: nil, replyCode: nil, smtpCommand: command,
                                     lazyContext: { QualificationContext(event: e) })
            let lastCode = last.enhancedStatus.flatMap { EnhancedStatusCode($0) }
            if !(last.qualification.reason == .notDefined || (lastCode.map { $0.subject == 4 && $0.detail == 7 } ?? false)
                 || last.rule.hasPrefix("unmatched")) {
                return (last.qualification.temporary.forTimeout, last.qualifierTag)
            }
        }
        let isFinal = e.kind == .timeout || (e.kind == .bounce && e.final)
        var q = isFinal && r.final ? r.qualification : r.qualification.temporary
        if e.kind == .timeout { q = q.forTimeout }
        return (q, r.qualifierTag)
    }

    /// The fold item of event `e` appended at `position`, re-qualified like
    /// ``requalified(_:with:)`` without copying the event.
    static func item(_ e: Event, position: UInt64, recordedAt: Instant, rules: TextQualifier) -> ValidTime.Item {
        var item = ValidTime.Item(e, position: position, recordedAt: recordedAt)
        if let r = requalification(e, with: rules) { item.mark.qualification = r.qualification }
        return item
    }

    /// Folds one message event (its fold ``ValidTime/Item``) of stream `stream`, a message of
    /// delivery `delivery`, at the caller's `slot` for that stream. A stream that already had
    /// events must have been given them first (``prime(slot:stream:delivery:before:_:_:)``: the
    /// caller walks the chain once, for its ids too); an unprimed stream is new.
    mutating func apply(_ item: ValidTime.Item, slot: Int, stream: UInt32, delivery: UInt32,
                        _ txn: borrowing Transaction, _ reader: ProjectionReader) throws {
        // An unprimed stream is new: no state can be stored for it, and none is looked up.
        var isNew = false
        if slot >= entries.count || entries[slot].stream == 0 {
            try create(slot: slot, stream: stream, delivery: delivery, before: [], txn, reader)
            isNew = true
        }
        let ci = entries[slot].counters
        var state: MessageState
        if let loaded = entries[slot].state {
            state = loaded
        } else if !isNew, let stored = try reader.messageState(stream, txn) {
            state = stored
        } else {
            state = MessageState()
            counterValues[ci].counters.messages += 1
            counterValues[ci].counters.add(state.summary, sign: 1)
        }
        counterValues[ci].counters.add(state.summary, sign: -1)
        state.apply(item.mark, isFinal: item.isFinal)
        counterValues[ci].counters.add(state.summary, sign: 1)
        entries[slot].state = state
        entries[slot].added.append(item)
    }

    private mutating func create(slot: Int, stream: UInt32, delivery: UInt32, before: [ValidTime.Item],
                                 _ txn: borrowing Transaction, _ reader: ProjectionReader) throws {
        if slot >= entries.count {
            entries += repeatElement(Entry(stream: 0, delivery: 0, counters: 0, state: nil, before: []), count: slot + 1 - entries.count)
        }
        let ci: Int
        if let i = counterIndex[delivery] {
            ci = i
        } else {
            ci = counterValues.count
            counterValues.append((delivery, try reader.counters(delivery, txn)))
            counterIndex[delivery] = ci
        }
        entries[slot] = Entry(stream: stream, delivery: delivery, counters: ci, state: nil, before: before)
        touched.append(slot)
    }

    /// Walks a stream's chain from `head` back to its first record, with each record's fold view
    /// and bytes (valid only during the call).
    static func walk(from head: UInt64, _ txn: borrowing Transaction, _ tables: Tables,
                     _ body: (UInt64, RecordCodec.FoldView, UnsafeRawBufferPointer) throws -> Void) throws {
        var p = head
        while p != 0 {
            let position = p
            guard let previous = try Key.withU64(position, { k in try txn.withValue(tables.log, key: k) { b -> UInt64 in
                let view = try RecordCodec.foldView(b)
                try body(position, view, b)
                return view.previous
            } }) else {
                throw LedgerError.corrupt(position: position, what: "stream chain points to a missing record")
            }
            guard previous < position else { throw LedgerError.corrupt(position: position, what: "stream chain does not go backwards") }
            p = previous
        }
    }

    /// The valid-time item of a stored record: from its fold view, or, when its failure was
    /// qualified by the text rules, from the full record re-qualified with `rules`.
    ///
    /// Only the first record of a stream carries its recipient; `recipient` gives it for the others,
    /// since host-aware rules read the recipient's domain (``QualificationContext/init(event:)``):
    /// re-qualified without it, a later event of the stream would not get the answer it got when
    /// it was appended (a Google Groups bounce: Refused at append, Not defined at re-projection).
    /// The record's raw bytes are read through `raw` (the qualification context reads a DSN's
    /// `Remote-MTA:` field from them, ``QualificationContext``).
    static func item(_ view: RecordCodec.FoldView, position: UInt64, record: UnsafeRawBufferPointer, rules: TextQualifier,
                     raw: RawDecoder, recipient: () throws -> String) throws -> ValidTime.Item {
        guard view.textQualified else { return ValidTime.Item(view, position: position) }
        var e = try RecordCodec.decode(record, raw: raw).event
        if e.recipient.isEmpty { e.recipient = try recipient() }
        return ValidTime.Item(requalified(e, with: rules), position: position, recordedAt: view.recordedAt)
    }

    /// Gives the events a stream had before this projector saw it (the caller walked its chain),
    /// sparing the projector its own walk; `slot` is the caller's index for the stream.
    mutating func prime(slot: Int, stream: UInt32, delivery: UInt32, before: [ValidTime.Item],
                        _ txn: borrowing Transaction, _ reader: ProjectionReader) throws {
        if slot < entries.count, entries[slot].stream != 0 { return }
        try create(slot: slot, stream: stream, delivery: delivery, before: before, txn, reader)
    }

    /// Gives the changed states, counters and valid-time steps to `delta` (the append's changes
    /// of the tail). The projector is empty afterwards.
    mutating func finish(into delta: inout Tail) {
        for slot in touched {
            if let state = entries[slot].state { delta.states[entries[slot].stream] = state }
        }
        for (delivery, c) in counterValues { delta.counters[delivery] = c }
        addSteps(into: &delta)
        entries = []
        touched = []
        counterIndex = [:]
        counterValues = []
    }

    /// For each touched stream and each transaction (run of equal `recordedAt`) among its new events:
    /// the steps it adds, tagged with its last position (``ValidTime``).
    private func addSteps(into delta: inout Tail) {
        // Gathered per delivery first, then added to the delta's tries once per delivery.
        var perDelivery: [UInt32: [Tail.Step]] = [:]
        for slot in touched {
            let h = entries[slot]
            guard !h.added.isEmpty else { continue }
            var history = ValidTime.History(h.before)
            var start = 0
            while start < h.added.count {
                var end = start + 1
                while end < h.added.count, h.added[end].recordedAt == h.added[start].recordedAt { end += 1 }
                let group = Array(h.added[start..<end])
                let tag = group.map(\.mark.position).max()!
                let steps = history.add(group)
                if !steps.isEmpty {
                    perDelivery[h.delivery, default: []].append(contentsOf: steps.lazy.map { Tail.Step(at: $0.at, tag: tag, change: $0.change) })
                }
                start = end
            }
        }
        for (delivery, steps) in perDelivery { delta.addSteps(steps, delivery: delivery) }
    }
}
