import LMDBKit

extension Ledger {
    /// The basis of the current state: last position and its transaction time.
    public func basis() throws(LedgerError) -> Basis {
        // The log's last record alone: no projection is read, so no tail is folded.
        try run { try environment.read { txn in try basis(txn) } }
    }

    /// The basis, once the projection this instance reads is checked as usable: its rule table is
    /// this instance's (another process may have re-projected with another,
    /// ``LedgerError/rulesChanged(path:persisted:own:)``) and the records after its checkpoint fold.
    /// What a readiness probe asks: when it throws, every query would.
    /// - Throws: ``LedgerError`` as the queries do.
    public func readyBasis() throws(LedgerError) -> Basis {
        try run { try withView { txn, _ in try basis(txn) } }
    }

    func basis(_ txn: borrowing Transaction) throws -> Basis {
        guard let last = try txn.last(tables.log) else { return Basis(position: 0, recordedAt: nil, rules: options.rules.table.version) }
        let position = last.key.withUnsafeBytes { Key.readU64($0) }
        let header = try last.value.withUnsafeBytes { try RecordCodec.header($0) }
        return Basis(position: position, recordedAt: header.recordedAt, rules: options.rules.table.version)
    }

    /// Whether the ledger knows delivery `delivery` (a point read, where `deliveries().contains`
    /// reads every delivery id: a ledger of per-message deliveries holds millions).
    /// - Throws: ``LedgerError``.
    public func hasDelivery(_ delivery: String) throws(LedgerError) -> Bool {
        try kpis(delivery: delivery, semantics: .classic, at: TimeBounds()) != nil
    }

    /// The delivery ids the ledger knows, in the order they were first recorded.
    public func deliveries() throws(LedgerError) -> [String] {
        if let names = try summaryDeliveries() { return names.map(\.name) }
        return try run {
            try withView { txn, view in try view.deliveryNames(txn).map(\.name) }
        }
    }

    /// The deliveries in which `recipient` (normalised with ``Address/normalize(_:)``) has a message.
    public func deliveries(containing recipient: String) throws(LedgerError) -> [String] {
        guard let address = Address.normalize(recipient) else { return [] }
        if let found = try summaryDeliveries(containing: address) { return found }
        return try run {
            try withView { txn, view in
                try view.deliveryNames(txn).filter { d in try view.streamOrdinal(delivery: d.ordinal, recipient: address, txn) != nil }.map(\.name)
            }
        }
    }

    /// The recipients of a delivery that have at least one event, in byte order.
    public func recipients(delivery: String) throws(LedgerError) -> [String] {
        try run {
            try withView { txn, view in
                guard let d = try view.deliveryOrdinal(Array(delivery.utf8), txn) else { return [] }
                return try view.streams(ofDelivery: d, txn).compactMap { $0.recipient.isEmpty ? nil : $0.recipient }
            }
        }
    }

    /// A stream's events, following its chain from the head, returned in log order.
    /// `withRaw: false` leaves each event's raw document out (no decompression): what a fold needs.
    func chain(_ info: StreamInfo, key: StreamKey, _ txn: borrowing Transaction, withRaw: Bool = true) throws -> [RecordedEvent] {
        var result: [RecordedEvent] = []
        let raw = withRaw ? try rawDictionaries.decoder(txn, tables.meta) : .skip
        var p = info.head
        while p != 0 {
            let position = p
            guard let decoded = try txn.withValue(tables.log, key: Key.u64(position), { try RecordCodec.decode($0, raw: raw) }) else {
                throw LedgerError.corrupt(position: position, what: "stream chain points to a missing record")
            }
            var e = decoded.event
            e.delivery = key.delivery
            e.recipient = key.recipient
            result.append(RecordedEvent(position: position, recordedAt: decoded.header.recordedAt, event: e))
            guard decoded.header.previous < position else { throw LedgerError.corrupt(position: position, what: "stream chain does not go backwards") }
            p = decoded.header.previous
        }
        return result.reversed()
    }

    /// The events of one message (or, with `recipient` empty, of the delivery itself), in log order.
    public func events(delivery: String, recipient: String) throws(LedgerError) -> [RecordedEvent] {
        let address = recipient.isEmpty ? "" : (Address.normalize(recipient) ?? recipient)
        return try run {
            try withView { txn, view in
                guard let d = try view.deliveryOrdinal(Array(delivery.utf8), txn), let info = try view.streamInfo(delivery: d, recipient: address, txn) else { return [] }
                return try chain(info, key: StreamKey(delivery: delivery, recipient: address), txn)
            }
        }
    }

    /// What the delivery's `delivery` events declared: for each field, the value of the latest
    /// event (by `occurredAt`, ties by position) that set it.
    public func declaration(delivery: String) throws(LedgerError) -> DeliveryDeclaration {
        try run { try withView { txn, view in try declaration(delivery: delivery, txn, view) } }
    }

    func declaration(delivery: String, _ txn: borrowing Transaction, _ view: ProjectionReader) throws -> DeliveryDeclaration {
        guard let d = try view.deliveryOrdinal(Array(delivery.utf8), txn), let info = try view.streamInfo(delivery: d, recipient: "", txn) else {
            return DeliveryDeclaration()
        }
        return try Self.declaration(head: info.head, txn, tables)
    }

    /// The declaration of the delivery whose own stream (recipient empty) has its head at `head` (0:
    /// none): for each field, the value of the latest event (by `occurredAt`, ties by position) that
    /// set it. Reads the chain in `txn` (an append's own records included).
    static func declaration(head: UInt64, _ txn: borrowing Transaction, _ tables: Tables) throws -> DeliveryDeclaration {
        var events: [(position: UInt64, event: Event)] = []
        try Projector.walk(from: head, txn, tables) { position, _, record in
            do {
                events.append((position, try RecordCodec.decode(record, raw: .skip).event))
            } catch let error as CorruptRecordError {
                throw LedgerError.corrupt(position: position, what: error.what)
            }
        }
        return latestDeclaration(events)
    }

    /// For each field, the value of the latest of `events` (by `occurredAt`, ties by position) that
    /// set it: a delivery's declaration.
    static func latestDeclaration(_ events: [(position: UInt64, event: Event)]) -> DeliveryDeclaration {
        var result = DeliveryDeclaration()
        for (_, e) in events.sorted(by: { ($0.event.occurredAt, $0.position) < ($1.event.occurredAt, $1.position) }) {
            if let v = e.toDeliver { result.toDeliver = v }
            if let v = e.validitySeconds { result.validitySeconds = v }
            if let v = e.label { result.label = v }
        }
        return result
    }

    /// A delivery's KPIs under `semantics`, or `nil` for a delivery the ledger does not know.
    /// O(1) in the size of the delivery: read from the counters the last append that touched the
    /// delivery wrote (``AppendSummary``), or from the projection with its tail.
    public func kpis(delivery: String, semantics: Semantics) throws(LedgerError) -> DeliveryKPIs? {
        if let answer = try summaryKPIs(delivery: delivery, semantics: semantics) { return answer }
        return try foldedKPIs(delivery: delivery, semantics: semantics)
    }

    /// ``kpis(delivery:semantics:)`` from the projection and its tail (folded when needed).
    func foldedKPIs(delivery: String, semantics: Semantics) throws(LedgerError) -> DeliveryKPIs? {
        try run {
            try withView { txn, view in
                guard let d = try view.deliveryOrdinal(Array(delivery.utf8), txn) else { return nil }
                let counters = try view.counters(d, txn)
                let declared = try declaration(delivery: delivery, txn, view)
                return DeliveryKPIs(delivery: delivery, semantics: semantics, counters: counters, declaredToDeliver: declared.toDeliver)
            }
        }
    }

    /// A recipient's status in a delivery under both semantics, with its events, or `nil` when
    /// the ledger has no event for that message. The status is the persisted projection's at the
    /// checkpoint plus the message's records after it, whose chain head the appends' summaries
    /// give (``AppendSummary``: a few B-tree lookups, no fold of the tail) — or, in a process that
    /// holds a folded tail (the one appending: `ledger serve`), the tail's state of the message, O(1).
    /// `includeEvents: false` skips reading the message's events (the report's
    /// ``MessageStatusReport/events`` is then empty): the point query of a dashboard.
    public func status(delivery: String, recipient: String, includeEvents: Bool = true) throws(LedgerError) -> MessageStatusReport? {
        guard let address = Address.normalize(recipient) else { return nil }
        if !holdsTail, let answer = try summaryStatus(delivery: delivery, address: address, includeEvents: includeEvents) { return answer }
        return try foldedStatus(delivery: delivery, address: address, includeEvents: includeEvents)
    }

    /// ``status(delivery:recipient:includeEvents:)`` from the projection and its tail (folded when needed).
    func foldedStatus(delivery: String, address: String, includeEvents: Bool) throws(LedgerError) -> MessageStatusReport? {
        try run {
            try withView { txn, view in
                guard let d = try view.deliveryOrdinal(Array(delivery.utf8), txn), let info = try view.streamInfo(delivery: d, recipient: address, txn) else { return nil }
                let state = try view.messageState(info.ordinal, txn) ?? MessageState()
                let events = includeEvents ? try chain(info, key: StreamKey(delivery: delivery, recipient: address), txn).map(projected) : []
                return MessageStatusReport(delivery: delivery, recipient: address, classic: state.view(.classic),
                                           efs: state.view(.efs), events: events, basis: try basis(txn))
            }
        }
    }

    /// The `efsFlag` events, in log order.
    public func efsFlagHistory() throws(LedgerError) -> [RecordedEvent] {
        if let history = try summaryEFSFlagHistory() { return history }
        return try run {
            try withView { txn, view in
                guard let info = try view.streamInfo(delivery: 0, recipient: "", txn) else { return [] }
                return try chain(info, key: StreamKey(delivery: "", recipient: ""), txn)
            }
        }
    }

    /// Whether the Email Feedback Service was on at `instant` (valid time): the `enabled` value of
    /// the latest `efsFlag` event with `occurredAt ≤ instant` (ties by position); `nil` when the flag
    /// was never set by then (domain.md §7).
    ///
    /// With `knownAt`, only the flag events recorded by then count: what the ledger knew at that
    /// instant (a change recorded later, even if dated earlier, was not yet in force for it).
    public func efsEnabled(at instant: Instant, knownAt: Instant? = nil) throws(LedgerError) -> Bool? {
        try efsFlagHistory()
            .filter { r in r.event.occurredAt <= instant && (knownAt.map { r.recordedAt <= $0 } ?? true) }
            .max { ($0.event.occurredAt, $0.position) < ($1.event.occurredAt, $1.position) }?
            .event.enabled
    }

    /// Calls `body` with every recorded event from `position` on, in log order (a full scan; for
    /// audits, verification and tests). `body` returns `false` to stop.
    public func forEachEvent(from position: UInt64 = 1, _ body: (RecordedEvent) throws -> Bool) throws {
        try run {
            try withView { txn, view in
                var keys: [UInt32: StreamKey] = [:]
                let raw = try rawDictionaries.decoder(txn, tables.meta)
                var deliveryNames: [UInt32: String] = [0: ""]
                try txn.scan(tables.log, from: Key.u64(position)) { k, v in
                    let p = Key.readU64(k)
                    let decoded: RecordCodec.Decoded
                    do { decoded = try RecordCodec.decode(v, raw: raw) } catch let error as CorruptRecordError { throw LedgerError.corrupt(position: p, what: error.what) }
                    var e = decoded.event
                    let ordinal = decoded.header.stream
                    if decoded.definesStream {
                        keys[ordinal] = StreamKey(delivery: e.delivery, recipient: e.recipient)
                    } else if keys[ordinal] == nil {
                        guard let info = try view.streamInfo(ordinal, txn) else {
                            throw LedgerError.corrupt(position: p, what: "stream \(ordinal) is not in the streams table")
                        }
                        if deliveryNames[info.deliveryOrdinal] == nil {
                            deliveryNames[info.deliveryOrdinal] = try view.deliveryName(info.deliveryOrdinal, txn) ?? ""
                        }
                        keys[ordinal] = StreamKey(delivery: deliveryNames[info.deliveryOrdinal]!, recipient: info.recipient)
                    }
                    let key = keys[ordinal]!
                    e.delivery = key.delivery
                    e.recipient = key.recipient
                    return try body(RecordedEvent(position: p, recordedAt: decoded.header.recordedAt, event: e))
                }
            }
        }
    }
}
