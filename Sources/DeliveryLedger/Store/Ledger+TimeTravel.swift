import LMDBKit

/// The two time axes of a query (domain.md §7): valid time and transaction time.
public struct TimeBounds: Sendable, Hashable {
    /// Valid time: only events with `occurredAt ≤ asOf` (UTC). `nil`: no bound.
    public var asOf: Instant?
    /// Transaction time: only events with `recordedAt ≤ knownAt` — "what the dashboard showed at
    /// that moment". `nil`: everything recorded.
    public var knownAt: Instant?

    /// Creates bounds; both `nil` means "now, everything known".
    public init(asOf: Instant? = nil, knownAt: Instant? = nil) {
        self.asOf = asOf
        self.knownAt = knownAt
    }

    /// Whether no bound is set.
    public var isUnbounded: Bool { asOf == nil && knownAt == nil }
}

extension Ledger {
    /// The event as this ledger's projection sees it: a failure qualified by the text rules is
    /// qualified again with the ledger's rule table (``LedgerOptions/rules``); other events unchanged.
    public func asProjected(_ event: Event) -> Event {
        Projector.requalified(event, with: options.rules)
    }

    /// `r` with its event ``asProjected(_:)``.
    func projected(_ r: RecordedEvent) -> RecordedEvent {
        RecordedEvent(position: r.position, recordedAt: r.recordedAt, event: asProjected(r.event))
    }

    /// The last log position whose `recordedAt` is ≤ `knownAt` (0 when none): a binary search over
    /// positions, since transaction time never decreases with position.
    func position(knownAt: Instant, _ txn: borrowing Transaction) throws -> UInt64 {
        guard let last = try txn.last(tables.log) else { return 0 }
        var lo: UInt64 = 0, hi = last.key.withUnsafeBytes { Key.readU64($0) }
        while lo < hi {
            let mid = lo + (hi - lo + 1) / 2
            guard let recordedAt = try txn.withValue(tables.log, key: Key.u64(mid), { try RecordCodec.header($0).recordedAt }) else {
                throw LedgerError.corrupt(position: mid, what: "the log has a gap")
            }
            if recordedAt <= knownAt { lo = mid } else { hi = mid - 1 }
        }
        return lo
    }

    /// The basis of an answer at `bounds`: with `knownAt`, the last position recorded by then
    /// (0 when none) and its recording instant (UTC); `asOf` and `knownAt` as given.
    public func basis(at bounds: TimeBounds) throws(LedgerError) -> Basis {
        try run { try withView { txn, _ in try basis(bounds, txn).basis } }
    }

    /// The basis of an answer at `bounds`.
    func basis(_ bounds: TimeBounds, _ txn: borrowing Transaction) throws -> (basis: Basis, limit: UInt64) {
        var b = try basis(txn)
        var limit = b.position
        if let k = bounds.knownAt {
            limit = try position(knownAt: k, txn)
            b.position = limit
            b.recordedAt = limit == 0 ? nil : try txn.withValue(tables.log, key: Key.u64(limit)) { try RecordCodec.header($0).recordedAt }
        }
        b.asOf = bounds.asOf
        b.knownAt = bounds.knownAt
        return (b, limit)
    }

    /// The events of a stream that `bounds` select (position ≤ limit, occurredAt ≤ asOf).
    func selected(_ events: [RecordedEvent], limit: UInt64, asOf: Instant?) -> [RecordedEvent] {
        events.filter { r in r.position <= limit && (asOf.map { r.event.occurredAt <= $0 } ?? true) }
    }

    /// A delivery's KPIs at a past point: valid time `bounds.asOf`, transaction time
    /// `bounds.knownAt`. Read from the valid-time projection (``ValidTime``), never by replaying
    /// the log: with only `asOf`, the minute checkpoints before `asOf` plus the steps of its own
    /// minute (cost independent of the delivery's size); with `knownAt`, the delivery's steps up to
    /// `asOf` whose tag is known at that instant (cost proportional to the delivery's steps). With
    /// no bound it reads the persisted counters.
    /// - Returns: the KPIs and the basis they are based on; `nil` for an unknown delivery.
    public func kpis(delivery: String, semantics: Semantics, at bounds: TimeBounds) throws(LedgerError) -> (kpis: DeliveryKPIs, basis: Basis)? {
        if bounds.isUnbounded {
            guard let k = try kpis(delivery: delivery, semantics: semantics) else { return nil }
            return (k, try basis())
        }
        return try run {
            try withView { txn, view in
                guard let d = try view.deliveryOrdinal(Array(delivery.utf8), txn) else { return nil }
                let (basis, limit) = try basis(bounds, txn)
                if bounds.knownAt != nil, try !known(delivery: d, named: delivery, limit: limit, txn, view) { return nil }
                let counters = try counters(delivery: d, asOf: bounds.asOf, limit: bounds.knownAt == nil ? nil : limit, txn, view)
                let declared = try declaredToDeliver(delivery: delivery, d, limit: limit, asOf: bounds.asOf, txn, view)
                return (DeliveryKPIs(delivery: delivery, semantics: semantics, counters: counters, declaredToDeliver: declared), basis)
            }
        }
    }

    /// Whether delivery `d` has a record at a position ≤ `limit`: a delivery recorded after a
    /// known-at instant is unknown at that instant, as it was to a reader then. Every message's
    /// first event changes the delivery's counters, so it has a valid-time step tagged with its
    /// position (``ValidTime``); a delivery-level event (a to-deliver count) is in the delivery's
    /// own stream. Cost: the delivery's steps up to the first known one.
    func known(delivery d: UInt32, named name: String, limit: UInt64, _ txn: borrowing Transaction, _ view: ProjectionReader) throws -> Bool {
        if (view.tail.steps[d] ?? []).contains(where: { $0.tag <= limit }) { return true }
        var found = false
        try txn.scan(tables.validSteps, from: Key.u32(d)) { k, _ in
            guard k.count == 20, Key.readU32(k) == d else { return false }
            found = Key.readU64(UnsafeRawBufferPointer(rebasing: k[12...])) <= limit
            return !found
        }
        if found { return true }
        guard let info = try view.streamInfo(delivery: d, recipient: "", txn) else { return false }
        return try chain(info, key: StreamKey(delivery: name, recipient: ""), txn).contains { $0.position <= limit }
    }

    /// The delivery's counters as of `asOf` (valid time; `nil` = no bound) from the steps whose tag
    /// is ≤ `limit` (`nil` = all).
    func counters(delivery d: UInt32, asOf: Instant?, limit: UInt64?, _ txn: borrowing Transaction, _ view: ProjectionReader) throws -> DeliveryCounters {
        var c = DeliveryCounters()
        let end = asOf?.millisecondsSinceEpoch ?? Int64.max
        // The tail's steps (written after the persisted checkpoint) are in neither table yet.
        for step in view.tail.steps[d] ?? [] where step.at <= end && (limit.map { step.tag <= $0 } ?? true) {
            step.change.apply(to: &c)
        }
        if limit == nil, let asOf {
            // Minute checkpoints strictly before asOf's minute, then that minute's steps up to asOf.
            let minute = ValidTime.bucket(asOf.millisecondsSinceEpoch)
            try txn.scan(tables.validBuckets, from: Key.u32(d)) { k, v in
                guard k.count == 12, Key.readU32(k) == d else { return false }
                guard ValidTime.unbiased(Key.readU64(UnsafeRawBufferPointer(rebasing: k[4...]))) < minute else { return false }
                try ValidTime.Vector(bytes: v).apply(to: &c)
                return true
            }
            try txn.scan(tables.validSteps, from: ValidTime.stepKey(delivery: d, at: minute * ValidTime.bucketMilliseconds, tag: 0)) { k, v in
                guard k.count == 20, Key.readU32(k) == d else { return false }
                guard ValidTime.unbiased(Key.readU64(UnsafeRawBufferPointer(rebasing: k[4..<12]))) <= end else { return false }
                try ValidTime.Vector(bytes: v).apply(to: &c)
                return true
            }
            return c
        }
        try txn.scan(tables.validSteps, from: Key.u32(d)) { k, v in
            guard k.count == 20, Key.readU32(k) == d else { return false }
            guard ValidTime.unbiased(Key.readU64(UnsafeRawBufferPointer(rebasing: k[4..<12]))) <= end else { return false }
            if let limit, Key.readU64(UnsafeRawBufferPointer(rebasing: k[12...])) > limit { return true }
            try ValidTime.Vector(bytes: v).apply(to: &c)
            return true
        }
        return c
    }

    /// What the delivery's own `delivery` events that `bounds` select declared (occurred by `asOf`,
    /// recorded by `knownAt`): for each field, the value of the latest such event (by `occurredAt`,
    /// ties by position) — a label changed later is not shown for an earlier instant.
    /// - Throws: ``LedgerError``.
    public func declaration(delivery: String, at bounds: TimeBounds) throws(LedgerError) -> DeliveryDeclaration {
        if bounds.isUnbounded { return try declaration(delivery: delivery) }
        return try run {
            try withView { txn, view in
                guard let d = try view.deliveryOrdinal(Array(delivery.utf8), txn),
                      let info = try view.streamInfo(delivery: d, recipient: "", txn) else { return DeliveryDeclaration() }
                let (_, limit) = try basis(bounds, txn)
                let events = selected(try chain(info, key: StreamKey(delivery: delivery, recipient: ""), txn), limit: limit, asOf: bounds.asOf)
                return Self.latestDeclaration(events.map { ($0.position, $0.event) })
            }
        }
    }

    /// The to-deliver count declared by the delivery's own events that the bounds select.
    private func declaredToDeliver(delivery: String, _ d: UInt32, limit: UInt64, asOf: Instant?, _ txn: borrowing Transaction, _ view: ProjectionReader) throws -> Int64? {
        guard let info = try view.streamInfo(delivery: d, recipient: "", txn) else { return nil }
        let events = selected(try chain(info, key: StreamKey(delivery: delivery, recipient: ""), txn), limit: limit, asOf: asOf)
        return Self.latestDeclaration(events.map { ($0.position, $0.event) }).toDeliver
    }

    /// A recipient's status at a past point (see ``kpis(delivery:semantics:at:)``): the fold of the
    /// message's events that `bounds` select; its ``MessageStatusReport/events`` are those events.
    public func status(delivery: String, recipient: String, at bounds: TimeBounds) throws(LedgerError) -> MessageStatusReport? {
        if bounds.isUnbounded { return try status(delivery: delivery, recipient: recipient) }
        guard let address = Address.normalize(recipient) else { return nil }
        return try run {
            try withView { txn, view in
                guard let d = try view.deliveryOrdinal(Array(delivery.utf8), txn), let info = try view.streamInfo(delivery: d, recipient: address, txn) else { return nil }
                let (basis, limit) = try basis(bounds, txn)
                let events = selected(try chain(info, key: StreamKey(delivery: delivery, recipient: address), txn), limit: limit, asOf: bounds.asOf)
                guard !events.isEmpty else { return nil }
                var state = MessageState()
                let projectedEvents = events.map(projected)
                for r in projectedEvents { state.apply(r.event, position: r.position) }
                return MessageStatusReport(delivery: delivery, recipient: address, classic: state.view(.classic),
                                           efs: state.view(.efs), events: projectedEvents, basis: basis)
            }
        }
    }
}
