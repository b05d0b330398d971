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
                // Entries stay valid for the whole read transaction (LMDB's pages are mapped). One
                // that does not decode (damage, named by verify) covers nothing: the caller folds.
                guard let streams = try? AppendSummary.Streams(v), Key.readU64(k) == expected,
                      streams.first >= 1, streams.first <= expected, streams.first > checkpoint else {
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

    /// Delivery `name`'s `currentCounters` entry; `nil` when there is none or it does not decode
    /// (damage, named by verify: the reader then answers as without it, by folding when it must).
    private func currentEntry(_ name: [UInt8], _ txn: borrowing Transaction) throws -> AppendSummary.DeliveryEntry? {
        guard let currentCounters = tables.currentCounters else { return nil }
        return try txn.withValue(currentCounters, key: name) { try? AppendSummary.DeliveryEntry(bytes: $0) } ?? nil
    }

    /// A delivery's KPIs from its `currentCounters` entry (or, when no append after the checkpoint
    /// touched it, from the persisted counters); `.some(nil)` for a delivery the snapshot does not know.
    func summaryKPIs(delivery: String, semantics: Semantics) throws(LedgerError) -> DeliveryKPIs?? {
        guard tables.currentCounters != nil else { return nil }
        return try run {
            try environment.read { txn -> DeliveryKPIs?? in
                try checkRules(txn)
                let name = Array(delivery.utf8)
                if let entry = try currentEntry(name, txn) {
                    return .some(DeliveryKPIs(delivery: delivery, semantics: semantics, counters: entry.counters, declaredToDeliver: entry.toDeliver))
                }
                // No append after the checkpoint touched it (every one left a summary, none names it):
                // the persisted projection is its whole state.
                guard let appends = try tailSummaries(txn) else { return nil }
                let touched = Set(appends.flatMap(\.deliveries))
                guard let d = try txn.withValue(tables.deliveries, key: name, { Key.readU32($0) }) else {
                    return try tailDeliveriesAreNamed(touched, txn) ? .some(nil) : nil
                }
                if touched.contains(d) { return nil }  // touched, yet no entry (damage): fold
                guard let counters = try txn.withValue(tables.deliveryCounters, key: Key.u32(d), { try? DeliveryCounters(bytes: $0) }) ?? DeliveryCounters() else {
                    return nil  // damaged persisted counters: the fold's path names them
                }
                let head = try streamIndexInfo(delivery: d, recipient: "", txn)?.head ?? 0
                let toDeliver = try Self.declaration(head: head, txn, tables).toDeliver
                return .some(DeliveryKPIs(delivery: delivery, semantics: semantics, counters: counters, declaredToDeliver: toDeliver))
            }
        }
    }

    /// Runs `body` in a read transaction whose snapshot the summaries cover (every append after the
    /// checkpoint left one), with those summaries, newest first; `nil` when they do not.
    private func withSummaries<R>(_ body: (borrowing Transaction, [AppendSummary.Streams]) throws -> R) throws(LedgerError) -> R? {
        guard tables.currentCounters != nil else { return nil }
        return try run {
            try environment.read { txn -> R? in
                try checkRules(txn)
                guard let appends = try tailSummaries(txn) else { return nil }
                return try body(txn, appends)
            }
        }
    }

    /// Delivery `name`'s ordinal: its `currentCounters` entry's, else the persisted one; `.some(nil)`
    /// when the snapshot has no such delivery, `nil` when the summaries cannot tell (a delivery first
    /// recorded after the checkpoint lost its entry: damage).
    private func summaryDeliveryOrdinal(_ name: [UInt8], appends: [AppendSummary.Streams], _ txn: borrowing Transaction) throws -> UInt32?? {
        if let entry = try currentEntry(name, txn) { return .some(entry.ordinal) }
        if let d = try txn.withValue(tables.deliveries, key: name, { Key.readU32($0) }) { return .some(d) }
        return try tailDeliveriesAreNamed(Set(appends.flatMap(\.deliveries)), txn) ? .some(nil) : nil
    }

    /// Whether every delivery in `touched` (ordinals the appends after the checkpoint touched) is
    /// named by the persisted tables or by a `currentCounters` entry.
    private func tailDeliveriesAreNamed(_ touched: Set<UInt32>, _ txn: borrowing Transaction) throws -> Bool {
        var unnamed = try touched.filter { d in try d != 0 && txn.withValue(tables.deliveryNames, key: Key.u32(d), { _ in true }) == nil }
        guard !unnamed.isEmpty, let currentCounters = tables.currentCounters else { return unnamed.isEmpty }
        try txn.scan(currentCounters) { _, v in
            if let entry = try? AppendSummary.DeliveryEntry(bytes: v) { unnamed.remove(entry.ordinal) }
            return !unnamed.isEmpty
        }
        return unnamed.isEmpty
    }

    /// The stream (delivery ordinal `d`, named `name`; `recipient`) in the snapshot: its head from
    /// the newest append after the checkpoint that names it, else from the persisted `streams`
    /// table; `persisted` is its ordinal in the persisted index, when there. `nil`: no such stream.
    private func summaryStream(delivery d: UInt32, name: [UInt8], recipient: String, appends: [AppendSummary.Streams],
                               _ txn: borrowing Transaction) throws -> (info: StreamInfo, persisted: UInt32?)? {
        let persisted = try txn.withValue(tables.streamIndex, key: Tables.streamIndexKey(delivery: d, recipient: recipient)) { Key.readU32($0) }
        let hash = AppendSummary.streamHash(delivery: d, recipient: recipient)
        for append in appends {
            for head in append.heads(hash: hash) {
                if let stream = try streamOf(head: head, delivery: name, recipient: recipient, persisted: persisted, txn) {
                    return (StreamInfo(ordinal: stream, deliveryOrdinal: d, recipient: recipient, head: head, count: 0), persisted)
                }
            }
        }
        guard let stream = persisted,
              let stored = try txn.withValue(tables.streams, key: Key.u32(stream), { try StreamInfo(ordinal: stream, bytes: $0) }) else { return nil }
        return (stored, persisted)
    }

    /// A recipient's status from the persisted projection at the checkpoint plus the records of
    /// its chain after it, whose head the newest `tailStreams` entry naming the stream gives;
    /// `.some(nil)` when the snapshot has no event of that message.
    func summaryStatus(delivery: String, address: String, includeEvents: Bool) throws(LedgerError) -> MessageStatusReport?? {
        try withSummaries { txn, appends -> MessageStatusReport?? in
            let name = Array(delivery.utf8)
            guard let known = try summaryDeliveryOrdinal(name, appends: appends, txn) else { return nil }  // cannot tell: fold
            guard let d = known,
                  let (info, persisted) = try summaryStream(delivery: d, name: name, recipient: address, appends: appends, txn) else { return .some(nil) }
            let checkpoint = try txn.get(tables.meta, key: Tables.checkpointKey).map { $0.withUnsafeBytes { Key.readU64($0) } } ?? 0
            var state = info.ordinal == persisted ? try tables.messageState(info.ordinal, txn) ?? MessageState() : MessageState()
            // The chain's records after the checkpoint, folded in log order on the persisted state.
            let raw = try rawDictionaries.decoder(txn, tables.meta)
            var after: [ValidTime.Item] = []
            var p = info.head
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
            let events = includeEvents ? try chain(info, key: StreamKey(delivery: delivery, recipient: address), txn).map(projected) : []
            return .some(MessageStatusReport(delivery: delivery, recipient: address, classic: state.view(.classic),
                                             efs: state.view(.efs), events: events, basis: try basis(txn)))
        } ?? nil
    }

    /// The delivery ids in the order they were first recorded: the persisted ones, then those the
    /// `currentCounters` entries add (every delivery first recorded after the checkpoint has one).
    func summaryDeliveries() throws(LedgerError) -> [(ordinal: UInt32, name: String)]? {
        try withSummaries { txn, appends in try summaryDeliveries(txn, appends) } ?? nil
    }

    /// `nil` when a delivery an append after the checkpoint touched has no name (damage): fold.
    private func summaryDeliveries(_ txn: borrowing Transaction, _ appends: [AppendSummary.Streams]) throws -> [(ordinal: UInt32, name: String)]? {
        var names: [UInt32: String] = [:]
        try txn.scan(tables.deliveryNames) { k, v in
            names[Key.readU32(k)] = String(decoding: v, as: UTF8.self)
            return true
        }
        if let currentCounters = tables.currentCounters {
            var undecodable = false
            try txn.scan(currentCounters) { k, v in
                guard let ordinal = (try? AppendSummary.DeliveryEntry(bytes: v))?.ordinal else {
                    undecodable = true  // damage (named by verify): fold
                    return false
                }
                if names[ordinal] == nil { names[ordinal] = String(decoding: k, as: UTF8.self) }
                return true
            }
            if undecodable { return nil }
        }
        for d in appends.flatMap(\.deliveries) where d != 0 && names[d] == nil { return nil }
        return names.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
    }

    /// The deliveries in which `address` has a message, from the summaries.
    func summaryDeliveries(containing address: String) throws(LedgerError) -> [String]? {
        try withSummaries { txn, appends in
            try summaryDeliveries(txn, appends)?.filter { d in
                try summaryStream(delivery: d.ordinal, name: Array(d.name.utf8), recipient: address, appends: appends, txn) != nil
            }.map(\.name)
        } ?? nil
    }

    /// The `efsFlag` events in log order, from the summaries (their stream: delivery 0, no recipient).
    func summaryEFSFlagHistory() throws(LedgerError) -> [RecordedEvent]? {
        try withSummaries { txn, appends in
            guard let (info, _) = try summaryStream(delivery: 0, name: [], recipient: "", appends: appends, txn) else { return [] }
            return try chain(info, key: StreamKey(delivery: "", recipient: ""), txn)
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
