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
        let events = selected(try chain(info, key: key, txn, withRaw: includeEvents), limit: limit, asOf: bounds.asOf).map(projected)
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

extension Ledger {
    /// One page of the sending logs of a delivery — its recipients with an event within `bounds`
    /// whose status under `semantics` is `status` (any when `nil`), in byte order of the address —
    /// their statuses and how many there are in all, from one snapshot. The total is read from the
    /// delivery's counters at the bounds (the same the KPIs read: ``DeliveryKPIs`` counts each
    /// message once, by status; a recipient in the logs is a message with an event, so Pending here
    /// excludes the declared recipients not seen yet, which the KPI's Pending adds); the page walks
    /// the recipients in byte order only until it is full — O(offset + limit) status reads for a
    /// status as common as the page's share, not a read of every recipient. With time bounds each
    /// status read is the fold of the message's events within them (as
    /// ``status(delivery:recipient:at:)``). With `search` (a substring of the address, ASCII letters
    /// compared case-insensitively; empty: none) the total is the count of the matching recipients
    /// within the filter, so the walk goes to the delivery's end
    /// (a scan of its index, with a status read only for a match that a filter needs or a row).
    /// - Returns: the reports (without events), the total and the snapshot's basis; `nil` when the
    ///   delivery is unknown.
    /// - Throws: ``LedgerError``.
    public func statusPage(delivery: String, semantics: Semantics, status: MessageStatus?, at bounds: TimeBounds = TimeBounds(),
                           search: String? = nil, offset: Int, limit: Int) throws(LedgerError)
        -> (reports: [MessageStatusReport], total: Int, basis: Basis)? {
        try run {
            try withView { txn, view in
                guard let d = try view.deliveryOrdinal(Array(delivery.utf8), txn) else { return nil }
                let (basis, position) = try basis(bounds, txn)
                var total = 0
                // The search, ASCII-lowercased: compared with each address's bytes, no String made.
                let needle = search.map { Array($0.utf8).map(Self.asciiLowercase) }.flatMap { $0.isEmpty ? nil : $0 }
                if needle == nil {
                    let counters = bounds.isUnbounded ? try view.counters(d, txn)
                        : try self.counters(delivery: d, asOf: bounds.asOf, limit: bounds.knownAt == nil ? nil : position, txn, view)
                    total = Int(status.map { counters.count(of: $0, semantics) } ?? counters.messages)
                    guard offset >= 0, offset < total, limit > 0 else { return ([], total, basis) }
                }
                let (sum, overflow) = max(offset, 0).addingReportingOverflow(max(limit, 0))
                let end = overflow ? Int.max : sum
                // The tail's new streams of this delivery, in byte order, merged with the index's.
                let fresh: [ArraySlice<UInt8>]
                if let kept = view.tail.freshRecipients[d], kept.isComplete {
                    fresh = kept.first
                } else {
                    fresh = view.tail.newStreams.keys.compactMap { key -> ArraySlice<UInt8>? in
                        guard key.bytes.count > 4, key.bytes.withUnsafeBytes({ Key.readU32($0) }) == d else { return nil }
                        return key.bytes[4...]
                    }.sorted { ByteKey.precedes($0, $1) }
                }
                // Each status read only when needed: to filter (a status, time bounds), or for a row.
                let filters = status != nil || !bounds.isUnbounded
                var reports: [MessageStatusReport] = []
                var matched = 0
                /// Takes one recipient (stream `ordinal`); says whether the walk goes on.
                func take<C: Collection<UInt8>>(_ bytes: C, _ ordinal: UInt32?, _ txn: borrowing Transaction) throws -> Bool where C.Index == Int {
                    guard let ordinal else { return true }
                    if let needle, !Self.contains(bytes, asciiLowercased: needle) { return true }
                    let address = String(decoding: bytes, as: UTF8.self)
                    var state: MessageState?
                    if filters {
                        state = try pageState(delivery, address, ordinal: ordinal, bounds: bounds, limit: position, txn, view)
                        guard let s = state, status.map({ s.view(semantics).status == $0 }) ?? true else { return true }
                    }
                    if matched >= offset && matched < end {
                        if state == nil { state = try pageState(delivery, address, ordinal: ordinal, bounds: bounds, limit: position, txn, view) }
                        if let state {
                            reports.append(MessageStatusReport(delivery: delivery, recipient: address, classic: state.view(.classic),
                                                               efs: state.view(.efs), events: [], basis: basis))
                        }
                    }
                    matched += 1
                    return needle != nil || matched < end  // a search counts every match: its total
                }
                var next = 0
                var going = true
                try txn.scan(tables.streamIndex, from: Key.u32(d)) { k, v in
                    guard k.count >= 4, Key.readU32(k) == d else { return false }
                    let recipient = UnsafeRawBufferPointer(rebasing: k[4...])
                    guard !recipient.isEmpty else { return true }  // the delivery's own stream
                    while going, next < fresh.count, fresh[next].lexicographicallyPrecedes(recipient) {
                        going = try take(fresh[next], try freshOrdinal(d, fresh[next], needle, txn, view), txn)
                        next += 1
                    }
                    if going { going = try take(recipient, Key.readU32(v), txn) }
                    return going
                }
                while going, next < fresh.count {
                    going = try take(fresh[next], try freshOrdinal(d, fresh[next], needle, txn, view), txn)
                    next += 1
                }
                if needle != nil { total = matched }
                return (reports, total, basis)
            }
        }
    }

    /// The stream ordinal of a recipient new in the tail, not looked up when the search excludes it.
    private func freshOrdinal(_ d: UInt32, _ recipient: ArraySlice<UInt8>, _ needle: [UInt8]?,
                              _ txn: borrowing Transaction, _ view: ProjectionReader) throws -> UInt32? {
        if let needle, !Self.contains(recipient, asciiLowercased: needle) { return nil }
        return try view.streamInfo(delivery: d, recipient: String(decoding: recipient, as: UTF8.self), txn)?.ordinal
    }

    static func asciiLowercase(_ byte: UInt8) -> UInt8 { byte >= 0x41 && byte <= 0x5A ? byte | 0x20 : byte }

    /// Whether `haystack` contains `needle` (ASCII-lowercased, not empty), ASCII letters compared
    /// case-insensitively, every other byte exactly.
    static func contains<C: Collection<UInt8>>(_ haystack: C, asciiLowercased needle: [UInt8]) -> Bool where C.Index == Int {
        guard haystack.count >= needle.count else { return false }
        var start = haystack.startIndex
        while start <= haystack.endIndex - needle.count {
            var i = 0
            while i < needle.count, asciiLowercase(haystack[start + i]) == needle[i] { i += 1 }
            if i == needle.count { return true }
            start += 1
        }
        return false
    }

    /// A message's state for a page of the sending logs: the projection's (current) when `bounds`
    /// is unbounded, else the fold of its events within them; `nil` when it has none within them.
    private func pageState(_ delivery: String, _ address: String, ordinal: UInt32, bounds: TimeBounds, limit: UInt64,
                           _ txn: borrowing Transaction, _ view: ProjectionReader) throws -> MessageState? {
        if bounds.isUnbounded { return try view.messageState(ordinal, txn) ?? MessageState() }
        guard let info = try view.streamInfo(ordinal, txn) else { return nil }
        let events = selected(try chain(info, key: StreamKey(delivery: delivery, recipient: address), txn, withRaw: false),
                              limit: limit, asOf: bounds.asOf)
        guard !events.isEmpty else { return nil }
        var state = MessageState()
        for r in events.map(projected) { state.apply(r.event, position: r.position) }
        return state
    }
}

extension DeliveryCounters {
    /// The messages whose status under `semantics` is `status`, as ``DeliveryKPIs`` counts them (its
    /// own definitions, read with no declared count: Pending is then the messages seen but neither
    /// relayed nor failed, without the declared recipients not seen yet).
    func count(of status: MessageStatus, _ semantics: Semantics) -> Int64 {
        let kpis = DeliveryKPIs(delivery: "", semantics: semantics, counters: self, declaredToDeliver: nil)
        switch status {
        case .pending: return kpis.pending
        case .sent: return kpis.sent
        case .takenIntoAccount: return kpis.takenIntoAccount
        case .failed: return kpis.failed
        }
    }
}
