import LMDBKit

/// An address's status with the events behind it.
public struct AddressReport: Sendable, Hashable {
    /// The normalised address.
    public var address: String
    /// The status and its counters at ``at``.
    public var state: AddressState
    /// The address's events in every delivery, in valid-time order (as the projection sees them).
    public var events: [RecordedEvent]
    /// The instant the status was computed at (UTC).
    public var at: Instant
}

extension Ledger {
    /// The status of `address` at `asOf` (valid time; default now), folded over its events in every
    /// delivery (domain.md §6). Returns `nil` when the ledger has no event for it.
    public func addressStatus(_ address: String, asOf: Instant? = nil, rules: QuarantineRules = QuarantineRules()) throws(LedgerError) -> AddressReport? {
        guard let normalised = Address.normalize(address) else { return nil }
        return try addressStatus(normalised: normalised, in: try deliveries(containing: normalised), asOf: asOf ?? options.clock(), rules: rules)
    }

    /// ``addressStatus(_:asOf:rules:)`` of a normalised address whose deliveries are known.
    private func addressStatus(normalised: String, in deliveries: [String], asOf at: Instant, rules: QuarantineRules) throws(LedgerError) -> AddressReport? {
        var events: [RecordedEvent] = []
        for d in deliveries {
            events += try self.events(delivery: d, recipient: normalised).filter { $0.event.occurredAt <= at }
        }
        guard !events.isEmpty else { return nil }
        events.sort { ($0.event.occurredAt, $0.position) < ($1.event.occurredAt, $1.position) }
        events = events.map { RecordedEvent(position: $0.position, recordedAt: $0.recordedAt, event: asProjected($0.event)) }
        var state = AddressState()
        for r in events { state.apply(r.event, position: r.position, rules: rules, concerns: options.rules.concerns(of: r.event) ?? .recipient) }
        state.advance(to: at, rules: rules)
        return AddressReport(address: normalised, state: state, events: events, at: at)
    }

    /// Every address the ledger has events for, in byte order (one scan of the message index).
    public func addresses() throws(LedgerError) -> [String] {
        try deliveriesByAddress().map(\.address)
    }

    /// The addresses in Quarantine or Denylisted at `asOf` — the exclusion list a sending platform needs.
    /// Every address is folded at the same instant (`asOf`, or the clock's once). Its deliveries come
    /// from one scan of the message index (O(messages)), not a look-up per delivery per address:
    /// that was O(addresses × deliveries), minutes on a ledger of per-message deliveries (a
    /// provider without a grouping field gives one delivery per message).
    public func quarantined(asOf: Instant? = nil, rules: QuarantineRules = QuarantineRules()) throws(LedgerError) -> [AddressReport] {
        let at = asOf ?? options.clock()
        var result: [AddressReport] = []
        for (address, deliveries) in try deliveriesByAddress() {
            if let r = try addressStatus(normalised: address, in: deliveries, asOf: at, rules: rules),
               r.state.status == .quarantine || r.state.status == .denylisted {
                result.append(r)
            }
        }
        return result
    }

    /// Every address the ledger has events for, in byte order, with the deliveries it has a message
    /// in (in the order they were first recorded): one scan of the message index (keys: the
    /// delivery's ordinal, u32 big-endian, then the address) and of the tail's new messages.
    func deliveriesByAddress() throws(LedgerError) -> [(address: String, deliveries: [String])] {
        try run {
            try withView { txn, view in
                var byAddress: [[UInt8]: Set<UInt32>] = [:]
                try txn.scan(tables.streamIndex) { k, _ in
                    if k.count > 4 { byAddress[Array(k[4...]), default: []].insert(Key.readU32(k)) }
                    return true
                }
                for key in view.tail.newStreams.keys where key.bytes.count > 4 {
                    let ordinal = key.bytes.withUnsafeBytes { Key.readU32($0) }
                    byAddress[Array(key.bytes[4...]), default: []].insert(ordinal)
                }
                var names: [UInt32: String] = [:]
                for d in try view.deliveryNames(txn) { names[d.ordinal] = d.name }
                return byAddress.sorted { $0.key.lexicographicallyPrecedes($1.key) }.map { entry in
                    (String(decoding: entry.key, as: UTF8.self), entry.value.sorted().compactMap { names[$0] })
                }
            }
        }
    }
}
