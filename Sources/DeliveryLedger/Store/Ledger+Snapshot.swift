import LMDBKit

/// One delivery's KPIs under both semantics, with its label, as ``Ledger/kpis(deliveries:at:)``
/// reads them.
public struct DeliveryKPIsRow: Sendable, Hashable {
    /// The delivery id.
    public var delivery: String
    /// Its KPIs under the classic semantics.
    public var classic: DeliveryKPIs
    /// Its KPIs under the EFS semantics.
    public var efs: DeliveryKPIs
    /// Its label, as its own `delivery` events within the bounds declared it.
    public var label: String?

    /// The KPIs under `semantics`.
    public func kpis(_ semantics: Semantics) -> DeliveryKPIs { semantics == .classic ? classic : efs }
}

/// Answers of several parts read from **one snapshot**: one LMDB read transaction, so every part and
/// the basis describe the same log position. Reading the parts with one call each gives each its
/// own snapshot, and while a writer appends, two parts of one answer (a delivery's classic and EFS
/// KPIs, a page's total and its rows) could then describe different positions — what a tester found
/// under load in `GET /api/deliveries?semantics=both` and the filtered sending logs.
extension Ledger {
    /// Deliveries' KPIs under both semantics at `bounds` (valid time `asOf`, transaction time
    /// `knownAt`; see ``kpis(delivery:semantics:at:)`` for how each is read), all from one snapshot.
    /// - Parameters:
    ///   - names: the deliveries to read, `nil` for all in the order they were first recorded; a
    ///     delivery the ledger does not know (or did not know at `knownAt`) has no row.
    ///   - bounds: the time bounds; unbounded reads the current counters.
    /// - Returns: the rows and the snapshot's basis (its last position, or the last one recorded by
    ///   `knownAt`).
    /// - Throws: ``LedgerError``.
    public func kpis(deliveries names: [String]? = nil, at bounds: TimeBounds) throws(LedgerError) -> (rows: [DeliveryKPIsRow], basis: Basis) {
        try run {
            try withView { txn, view in
                let (basis, limit) = try basis(bounds, txn)
                let chosen: [(ordinal: UInt32, name: String)]
                if let names {
                    chosen = try names.compactMap { n in try view.deliveryOrdinal(Array(n.utf8), txn).map { ($0, n) } }
                } else {
                    chosen = try view.deliveryNames(txn)
                }
                var rows: [DeliveryKPIsRow] = []
                for (d, name) in chosen {
                    let counters: DeliveryCounters
                    let declared: DeliveryDeclaration
                    if bounds.isUnbounded {
                        counters = try view.counters(d, txn)
                        declared = try declaration(delivery: name, txn, view)
                    } else {
                        if bounds.knownAt != nil, try !known(delivery: d, named: name, limit: limit, txn, view) { continue }
                        counters = try self.counters(delivery: d, asOf: bounds.asOf, limit: bounds.knownAt == nil ? nil : limit, txn, view)
                        declared = try declaration(delivery: d, named: name, limit: limit, asOf: bounds.asOf, txn, view)
                    }
                    rows.append(DeliveryKPIsRow(
                        delivery: name,
                        classic: DeliveryKPIs(delivery: name, semantics: .classic, counters: counters, declaredToDeliver: declared.toDeliver),
                        efs: DeliveryKPIs(delivery: name, semantics: .efs, counters: counters, declaredToDeliver: declared.toDeliver),
                        label: declared.label))
                }
                return (rows, basis)
            }
        }
    }

    /// Recipients' statuses in one delivery at `bounds`, all from one snapshot: the sending logs.
    /// - Parameters:
    ///   - delivery: the delivery id.
    ///   - recipients: the recipients to read (normalised as ``Address/normalize(_:)`` does), `nil`
    ///     for every recipient of the delivery in byte order. A recipient with no event within the
    ///     bounds is skipped.
    ///   - bounds: the time bounds (unbounded: the current status, read from the projection).
    ///   - includeEvents: whether each report carries its events (default false).
    ///   - matching: only the recipients (normalised) it accepts are read (default: all) — an address
    ///     search costs no status read for the others.
    ///   - body: called with each report, in order; returns false to stop.
    /// - Returns: the snapshot's basis, or `nil` when the delivery is unknown.
    /// - Throws: ``LedgerError``.
    public func statuses(delivery: String, recipients: [String]? = nil, at bounds: TimeBounds, includeEvents: Bool = false,
                         matching: (String) -> Bool = { _ in true }, _ body: (MessageStatusReport) -> Bool) throws(LedgerError) -> Basis? {
        try run {
            try withView { txn, view in
                guard let d = try view.deliveryOrdinal(Array(delivery.utf8), txn) else { return nil }
                let (basis, limit) = try basis(bounds, txn)
                let list = try recipients?.compactMap(Address.normalize)
                    ?? view.streams(ofDelivery: d, txn).compactMap { $0.recipient.isEmpty ? nil : $0.recipient }
                for address in list where matching(address) {
                    guard let report = try status(delivery: delivery, d, address: address, bounds: bounds, basis: basis, limit: limit,
                                                  includeEvents: includeEvents, txn, view) else { continue }
                    if !body(report) { break }
                }
                return basis
            }
        }
    }

    /// One page of a delivery's recipients (as ``recipients(delivery:offset:limit:)``: byte order,
    /// O(offset + limit)) with their current statuses and the total, all from one snapshot.
    /// - Returns: the reports, the delivery's recipient count and the snapshot's basis; `nil` when
    ///   the delivery is unknown.
    /// - Throws: ``LedgerError``.
    public func statusPage(delivery: String, offset: Int, limit: Int) throws(LedgerError) -> (reports: [MessageStatusReport], total: Int, basis: Basis)? {
        try run {
            try withView { txn, view in
                guard let d = try view.deliveryOrdinal(Array(delivery.utf8), txn) else { return nil }
                let (basis, limit0) = try basis(TimeBounds(), txn)
                let (page, total) = try recipients(d, offset: offset, limit: limit, txn, view)
                var reports: [MessageStatusReport] = []
                for address in page {
                    if let r = try status(delivery: delivery, d, address: address, bounds: TimeBounds(), basis: basis, limit: limit0,
                                          includeEvents: false, txn, view) { reports.append(r) }
                }
                return (reports, total, basis)
            }
        }
    }

    /// A message's status within one snapshot: current (the projection's state) when `bounds` is
    /// unbounded, else the fold of its events that the bounds select; `nil` when it has none.
    func status(delivery: String, _ d: UInt32, address: String, bounds: TimeBounds, basis: Basis, limit: UInt64, includeEvents: Bool,
                _ txn: borrowing Transaction, _ view: ProjectionReader) throws -> MessageStatusReport? {
        guard let info = try view.streamInfo(delivery: d, recipient: address, txn) else { return nil }
        let key = StreamKey(delivery: delivery, recipient: address)
        if bounds.isUnbounded {
            let state = try view.messageState(info.ordinal, txn) ?? MessageState()
            let events = includeEvents ? try chain(info, key: key, txn).map(projected) : []
            return MessageStatusReport(delivery: delivery, recipient: address, classic: state.view(.classic),
                                       efs: state.view(.efs), events: events, basis: basis)
        }
        let events = selected(try chain(info, key: key, txn), limit: limit, asOf: bounds.asOf).map(projected)
        guard !events.isEmpty else { return nil }
        var state = MessageState()
        for r in events { state.apply(r.event, position: r.position) }
        return MessageStatusReport(delivery: delivery, recipient: address, classic: state.view(.classic),
                                   efs: state.view(.efs), events: includeEvents ? events : [], basis: basis)
    }

    /// What the delivery's own events selected by `limit` and `asOf` declared.
    func declaration(delivery d: UInt32, named name: String, limit: UInt64, asOf: Instant?,
                     _ txn: borrowing Transaction, _ view: ProjectionReader) throws -> DeliveryDeclaration {
        guard let info = try view.streamInfo(delivery: d, recipient: "", txn) else { return DeliveryDeclaration() }
        let events = selected(try chain(info, key: StreamKey(delivery: name, recipient: ""), txn), limit: limit, asOf: asOf)
        return Self.latestDeclaration(events.map { ($0.position, $0.event) })
    }
}
