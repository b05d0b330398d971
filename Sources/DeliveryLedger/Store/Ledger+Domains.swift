import LMDBKit

/// One recipient domain of a delivery (domain.md §3: "breakdowns by recipient domain (processed,
/// delivered, hard, soft per reason), like Campaign's Delivery statistics report").
public struct DomainBreakdownRow: Sendable, Hashable {
    /// The recipient domain (the part after the address's last `@`, lower-case as the ledger keeps it).
    public var domain: String
    /// The domain's messages' KPIs, with the delivery's definitions (``DeliveryKPIs``): `toDeliver` is
    /// the number of messages seen for the domain (a declared count is per delivery, not per domain);
    /// `processed`, `delivered`, `failedByType`, `failedByReason` and the rates are semantics-independent.
    public var kpis: DeliveryKPIs
    /// Hard failures by reason, and soft failures by reason (the report's "hard, soft per reason").
    public var hardByReason: [FailureReason: Int64]
    public var softByReason: [FailureReason: Int64]
    /// Relayed messages past their validity at the report's instant with no outcome at all (domain.md §3 "no feedback").
    public var noFeedback: Int64
}

/// A delivery's breakdown by recipient domain, at one instant.
public struct DomainBreakdown: Sendable, Hashable {
    public var delivery: String
    /// The instant "past their validity" is judged at (UTC).
    public var now: Instant
    /// The effective validity of the delivery's messages, in seconds (``Ledger/effectiveValiditySeconds(delivery:)``).
    public var validitySeconds: Int64
    /// The domains, the most processed messages first (ties by name).
    public var domains: [DomainBreakdownRow]
    /// The delivery's "no feedback" count: the sum over its domains (domain.md §3).
    public var noFeedback: Int64 { domains.reduce(0) { $0 + $1.noFeedback } }

    /// The sum of the rows: the delivery's counts (equal to ``Ledger/kpis(delivery:semantics:)``'s
    /// processed, relayed, delivered and failures), under the domain `""`.
    public var total: DomainBreakdownRow
    /// The log position the breakdown covers, and its recording instant (as ``Basis``).
    public var basis: Basis
}

extension Ledger {
    /// The breakdown of `delivery` by recipient domain (domain.md §3; Campaign's Delivery statistics
    /// report): per domain the same counters as the delivery's KPIs — each message counted once by its
    /// status now (its latest final outcome, domain.md §3) — with hard and soft failures per reason,
    /// and the "no feedback" count: relayed messages whose effective validity (min(validity, 3.5
    /// days), from their relay, domain.md §4) has run out by `now` with no outcome at all.
    ///
    /// A scan of the delivery's message states (one read transaction): O(recipients), unlike
    /// ``kpis(delivery:semantics:)``'s O(1) counters; the "no feedback" count needs each message's
    /// relay instant, which is why it is here and in ``audit(delivery:now:lateAfterSeconds:)``.
    /// - Parameters:
    ///   - semantics: the semantics of each row's ``DeliveryKPIs`` (success, taken into account).
    ///   - now: the instant past-validity is judged at (default: the ledger's clock). A message has no
    ///     feedback when its expiry is at or before `now` and no outcome occurred by its expiry — the
    ///     rule of ``sweep(now:)`` and ``audit(delivery:now:lateAfterSeconds:)`` too.
    /// - Returns: `nil` when the delivery is unknown.
    /// - Throws: ``LedgerError``.
    public func domainBreakdown(delivery: String, semantics: Semantics, now: Instant? = nil) throws(LedgerError) -> DomainBreakdown? {
        let at = now ?? options.clock()
        let validity = try effectiveValiditySeconds(delivery: delivery)
        struct Tally {
            var counters = DeliveryCounters(); var hard: [FailureReason: Int64] = [:]; var soft: [FailureReason: Int64] = [:]; var noFeedback: Int64 = 0
            mutating func add(_ other: Tally) {
                for i in counters.values.indices { counters.values[i] += other.counters.values[i] }
                hard.merge(other.hard, uniquingKeysWith: +)
                soft.merge(other.soft, uniquingKeysWith: +)
                noFeedback += other.noFeedback
            }
        }
        let found: (tallies: [String: Tally], unsure: [(domain: String, recipient: String, expiry: Instant)], basis: Basis)? = try run {
            try withView { txn, view in
                guard let d = try view.deliveryOrdinal(Array(delivery.utf8), txn) else { return nil }
                var tallies: [String: Tally] = [:]
                var unsure: [(domain: String, recipient: String, expiry: Instant)] = []
                for (ordinal, recipient) in try view.streams(ofDelivery: d, txn) where !recipient.isEmpty {
                    guard let state = try view.messageState(ordinal, txn) else { continue }
                    let domain = recipient.lastIndex(of: "@").map { String(recipient[recipient.index(after: $0)...]) } ?? ""
                    var t = tallies[domain] ?? Tally()
                    let summary = state.summary
                    t.counters.messages += 1
                    t.counters.add(summary, sign: 1)
                    if let q = summary.qualification, summary.category == .bounced || summary.category == .failedBeforeRelay {
                        if q.type == .hard { t.hard[q.reason, default: 0] += 1 }
                        if q.type == .soft { t.soft[q.reason, default: 0] += 1 }
                    }
                    let relays = [state.relay, state.impliedRelay].compactMap { $0 }
                    if let relay = relays.min(by: { ($0.occurredAt, $0.position) < ($1.occurredAt, $1.position) }) {
                        let expiry = relay.occurredAt.adding(seconds: validity)
                        let marks = [state.final?.occurredAt, state.soft?.occurredAt].compactMap { $0 }
                        if expiry <= at {
                            if marks.isEmpty { t.noFeedback += 1 }
                            // The state keeps the latest final outcome and soft failure: both after the
                            // expiry, an earlier outcome may still lie before it — the events decide.
                            else if marks.allSatisfy({ $0 > expiry }) { unsure.append((domain, recipient, expiry)) }
                        }
                    }
                    tallies[domain] = t
                }
                return (tallies, unsure, try basis(txn))
            }
        }
        guard var found else { return nil }
        for (domain, recipient, expiry) in found.unsure
        where try !hadOutcome(delivery: delivery, recipient: recipient, by: expiry) {
            found.tallies[domain]?.noFeedback += 1
        }
        let rows = found.tallies.map { domain, t in
            DomainBreakdownRow(domain: domain,
                               kpis: DeliveryKPIs(delivery: delivery, semantics: semantics, counters: t.counters, declaredToDeliver: nil),
                               hardByReason: t.hard, softByReason: t.soft, noFeedback: t.noFeedback)
        }.sorted { ($0.kpis.processed, $1.domain) > ($1.kpis.processed, $0.domain) }
        var sum = Tally()
        for t in found.tallies.values { sum.add(t) }
        let total = DomainBreakdownRow(domain: "", kpis: DeliveryKPIs(delivery: delivery, semantics: semantics, counters: sum.counters, declaredToDeliver: nil),
                                       hardByReason: sum.hard, softByReason: sum.soft, noFeedback: sum.noFeedback)
        return DomainBreakdown(delivery: delivery, now: at, validitySeconds: validity, domains: rows, total: total, basis: found.basis)
    }
}
