import LMDBKit

/// The point queries answered from the appends' summaries (``AppendSummary``), in one read
/// transaction, without folding the tail: what a reader in another process does while a writer
/// appends (its fold of a 10,000-event append would take about 0.1 s). Each returns `nil` when the
/// summaries cannot answer (a ledger of an older format, or a tail written partly by an older
/// build); the caller then answers by folding, as before.
extension Ledger {
    /// The appends after the checkpoint of `txn`'s snapshot, newest first, as their `tailStreams`
    /// entries — `nil` unless these cover every position after the checkpoint.
    private func tailSummaries(_ txn: borrowing Transaction) throws -> [AppendSummary.Streams]? {
        guard let tailStreams = tables.tailStreams else { return nil }
        let checkpoint = try txn.get(tables.meta, key: Tables.checkpointKey).map { $0.withUnsafeBytes { Key.readU64($0) } } ?? 0
        let last = try txn.last(tables.log).map { $0.key.withUnsafeBytes { Key.readU64($0) } } ?? 0
        var expected = last
        var result: [AppendSummary.Streams] = []
        var covered = true
        if expected > checkpoint {
            try txn.scan(tailStreams, from: Key.u64(last), reverse: true) { k, v in
                let streams = try AppendSummary.Streams(v)
                // Entries stay valid for the whole read transaction (LMDB's pages are mapped).
                guard Key.readU64(k) == expected, streams.first >= 1, streams.first <= expected, streams.first > checkpoint else {
                    covered = false
                    return false
                }
                result.append(streams)
                expected = streams.first - 1
                return expected > checkpoint
            }
        }
        return covered && expected == checkpoint ? result : nil
    }

    /// A delivery's KPIs from its `currentCounters` entry (or, when no append after the checkpoint
    /// touched it, from the persisted counters); `.some(nil)` for a delivery the snapshot does not know.
    func summaryKPIs(delivery: String, semantics: Semantics) throws(LedgerError) -> DeliveryKPIs?? {
        guard let currentCounters = tables.currentCounters else { return nil }
        return try run {
            try environment.read { txn -> DeliveryKPIs?? in
                try checkRules(txn)
                let name = Array(delivery.utf8)
                if let entry = try txn.withValue(currentCounters, key: name, { try AppendSummary.DeliveryEntry(bytes: $0) }) {
                    return .some(DeliveryKPIs(delivery: delivery, semantics: semantics, counters: entry.counters, declaredToDeliver: entry.toDeliver))
                }
                // Not touched since the summaries began: the persisted projection is its whole
                // state, provided every append after the checkpoint left a summary.
                guard try tailSummaries(txn) != nil else { return nil }
                guard let d = try txn.withValue(tables.deliveries, key: name, { Key.readU32($0) }) else { return .some(nil) }
                let counters = try txn.withValue(tables.deliveryCounters, key: Key.u32(d)) { try DeliveryCounters(bytes: $0) } ?? DeliveryCounters()
                let head = try streamIndexInfo(delivery: d, recipient: "", txn)?.head ?? 0
                let toDeliver = try Self.declaration(head: head, txn, tables).toDeliver
                return .some(DeliveryKPIs(delivery: delivery, semantics: semantics, counters: counters, declaredToDeliver: toDeliver))
            }
        }
    }

    /// A recipient's status from the persisted projection at the checkpoint plus the records of
    /// its chain after it, whose head the newest `tailStreams` entry naming the stream gives;
    /// `.some(nil)` when the snapshot has no event of that message.
    func summaryStatus(delivery: String, address: String, includeEvents: Bool) throws(LedgerError) -> MessageStatusReport?? {
        guard let currentCounters = tables.currentCounters else { return nil }
        return try run {
            try environment.read { txn -> MessageStatusReport?? in
                try checkRules(txn)
                guard let appends = try tailSummaries(txn) else { return nil }
                let name = Array(delivery.utf8)
                let d: UInt32
                if let entry = try txn.withValue(currentCounters, key: name, { try AppendSummary.DeliveryEntry(bytes: $0) }) {
                    d = entry.ordinal
                } else if let stored = try txn.withValue(tables.deliveries, key: name, { Key.readU32($0) }) {
                    d = stored
                } else {
                    return .some(nil)
                }
                let checkpoint = try txn.get(tables.meta, key: Tables.checkpointKey).map { $0.withUnsafeBytes { Key.readU64($0) } } ?? 0
                let persisted = try txn.withValue(tables.streamIndex, key: Tables.streamIndexKey(delivery: d, recipient: address)) { Key.readU32($0) }
                // The stream's head: the newest append after the checkpoint that names it, else the persisted one.
                var found: (head: UInt64, stream: UInt32)?
                let hash = AppendSummary.streamHash(delivery: d, recipient: address)
                search: for append in appends {
                    for head in append.heads(hash: hash) {
                        if let stream = try streamOf(head: head, delivery: name, recipient: address, persisted: persisted, txn) {
                            found = (head, stream)
                            break search
                        }
                    }
                }
                let info: StreamInfo
                var state: MessageState
                if let found {
                    info = StreamInfo(ordinal: found.stream, deliveryOrdinal: d, recipient: address, head: found.head, count: 0)
                    state = found.stream == persisted ? try tables.messageState(found.stream, txn) ?? MessageState() : MessageState()
                    // The chain's records after the checkpoint, folded in log order on the persisted state.
                    let raw = try rawDictionaries.decoder(txn, tables.meta)
                    var after: [ValidTime.Item] = []
                    var p = found.head
                    while p > checkpoint {
                        let position = p
                        guard let previous = try txn.withValue(tables.log, key: Key.u64(position), { b throws -> UInt64 in
                            let view = try RecordCodec.foldView(b)
                            if view.kind.isMessageEvent {
                                after.append(try Projector.item(view, position: position, record: b, rules: options.rules, raw: raw, recipient: { address }))
                            }
                            return view.previous
                        }) else { throw LedgerError.corrupt(position: position, what: "stream chain points to a missing record") }
                        guard previous < position else { throw LedgerError.corrupt(position: position, what: "stream chain does not go backwards") }
                        p = previous
                    }
                    for item in after.reversed() { state.apply(item.mark, isFinal: item.isFinal) }
                } else {
                    guard let stream = persisted,
                          let stored = try txn.withValue(tables.streams, key: Key.u32(stream), { try StreamInfo(ordinal: stream, bytes: $0) }) else { return .some(nil) }
                    info = stored
                    state = try tables.messageState(stream, txn) ?? MessageState()
                }
                let events = includeEvents ? try chain(info, key: StreamKey(delivery: delivery, recipient: address), txn).map(projected) : []
                return .some(MessageStatusReport(delivery: delivery, recipient: address, classic: state.view(.classic),
                                                 efs: state.view(.efs), events: events, basis: try basis(txn)))
            }
        }
    }

    /// The stream of the record at `head` when it is the message (`delivery`, `recipient`) — the
    /// persisted index's stream when it has one, else the stream whose first record names them —
    /// or `nil` (another stream with the same hash).
    private func streamOf(head: UInt64, delivery: [UInt8], recipient: String, persisted: UInt32?, _ txn: borrowing Transaction) throws -> UInt32? {
        guard let stream = try txn.withValue(tables.log, key: Key.u64(head), { try RecordCodec.foldView($0).stream }) else {
            throw LedgerError.corrupt(position: head, what: "a tail streams entry names a missing record")
        }
        if let persisted { return stream == persisted ? stream : nil }
        // A stream new since the checkpoint: its first record names it.
        var first: (delivery: String, recipient: String)?
        try Projector.walk(from: head, txn, tables) { position, view, record in
            guard view.previous == 0 else { return }
            let decoded = try RecordCodec.decode(record, raw: .skip)
            guard decoded.definesStream else { throw LedgerError.corrupt(position: position, what: "the first record of stream \(view.stream) does not name it") }
            first = (decoded.event.delivery, decoded.event.recipient)
        }
        guard let first else { return nil }
        return first.delivery.utf8.elementsEqual(delivery) && first.recipient.utf8.elementsEqual(recipient.utf8) ? stream : nil
    }

    /// A persisted stream's entry, found through the persisted stream index.
    private func streamIndexInfo(delivery: UInt32, recipient: String, _ txn: borrowing Transaction) throws -> StreamInfo? {
        guard let stream = try txn.withValue(tables.streamIndex, key: Tables.streamIndexKey(delivery: delivery, recipient: recipient), { Key.readU32($0) }) else { return nil }
        return try txn.withValue(tables.streams, key: Key.u32(stream)) { try StreamInfo(ordinal: stream, bytes: $0) }
    }
}
