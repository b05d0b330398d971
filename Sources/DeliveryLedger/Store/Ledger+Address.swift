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
        let at = asOf ?? options.clock()
        var events: [RecordedEvent] = []
        for d in try deliveries(containing: normalised) {
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
        try run {
            try withView { txn, view in
                var seen = Set<[UInt8]>()
                try txn.scan(tables.streamIndex) { k, _ in
                    if k.count > 4 { seen.insert(Array(k[4...])) }
                    return true
                }
                for key in view.tail.newStreams.keys where key.bytes.count > 4 { seen.insert(Array(key.bytes[4...])) }
                return seen.sorted { $0.lexicographicallyPrecedes($1) }.map { String(decoding: $0, as: UTF8.self) }
            }
        }
    }

    /// The addresses in Quarantine or Denylisted at `asOf` — the exclusion list a sending platform needs.
    public func quarantined(asOf: Instant? = nil, rules: QuarantineRules = QuarantineRules()) throws(LedgerError) -> [AddressReport] {
        var result: [AddressReport] = []
        for a in try addresses() {
            if let r = try addressStatus(a, asOf: asOf, rules: rules), r.state.status == .quarantine || r.state.status == .denylisted {
                result.append(r)
            }
        }
        return result
    }
}
