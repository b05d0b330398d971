/// One finding of an audit.
public struct AuditFinding: Sendable, Hashable {
    /// What kind of finding it is.
    public enum Kind: String, Sendable, Hashable, CaseIterable {
        /// An event that occurred after the message's first final outcome.
        case afterFinalOutcome
        /// An outcome for a message with no relay event (feeds arrive incomplete).
        case outcomeWithoutRelay
        /// A relayed message past its effective validity with no outcome at all.
        case noFeedbackPastValidity
        /// An event recorded long after it occurred.
        case recordedLate
    }

    /// What was found.
    public var kind: Kind
    /// The message's recipient.
    public var recipient: String
    /// The event concerned (for `noFeedbackPastValidity`: the relay).
    public var position: UInt64
    /// Details for people.
    public var detail: String
}

extension Ledger {
    /// Audits a delivery at `now` (domain.md §4, §7; issue "Time in the ledger" §3): events that
    /// arrived after a final outcome, outcomes without relay, messages with no feedback past their
    /// validity, events recorded more than `lateAfterSeconds` (default 1 day) after they occurred.
    /// Duplicates are not stored (re-appends are no-ops), so they are reported by `ingest`, not here.
    public func audit(delivery: String, now: Instant? = nil, lateAfterSeconds: Int64 = 86_400) throws(LedgerError) -> [AuditFinding] {
        let at = now ?? options.clock()
        let validity = try effectiveValiditySeconds(delivery: delivery)
        var findings: [AuditFinding] = []
        for recipient in try recipients(delivery: delivery) {
            let events = try self.events(delivery: delivery, recipient: recipient)
                .sorted { ($0.event.occurredAt, $0.position) < ($1.event.occurredAt, $1.position) }
            var firstFinal: RecordedEvent?
            let relay = events.first { $0.event.kind == .relay }
            for r in events {
                let e = r.event
                if let f = firstFinal, e.occurredAt > f.event.occurredAt, e.kind != .relay {
                    findings.append(AuditFinding(kind: .afterFinalOutcome, recipient: recipient, position: r.position,
                                                 detail: "\(e.kind.rawValue) at \(e.occurredAt.rfc3339) after the \(f.event.kind.rawValue) of \(f.event.occurredAt.rfc3339) (#\(f.position))"))
                }
                let isFinal = e.kind == .delivered || e.kind == .timeout || (e.kind == .bounce && e.final)
                if isFinal && firstFinal == nil { firstFinal = r }
                if e.kind.isOutcome && relay == nil && !e.beforeRelay {
                    findings.append(AuditFinding(kind: .outcomeWithoutRelay, recipient: recipient, position: r.position,
                                                 detail: "\(e.kind.rawValue) with no relay event (the relay is implied)"))
                }
                let lag = (r.recordedAt.millisecondsSinceEpoch - e.occurredAt.millisecondsSinceEpoch) / 1000
                if lag > lateAfterSeconds {
                    findings.append(AuditFinding(kind: .recordedLate, recipient: recipient, position: r.position,
                                                 detail: "\(e.kind.rawValue) recorded \(lag / 3600) h after it occurred"))
                }
            }
            if let relay, !events.contains(where: { $0.event.kind.isOutcome }), relay.event.occurredAt.adding(seconds: validity) <= at {
                findings.append(AuditFinding(kind: .noFeedbackPastValidity, recipient: recipient, position: relay.position,
                                             detail: "relayed \(relay.event.occurredAt.rfc3339); validity \(validity) s ran out with no feedback"))
            }
        }
        return findings
    }
}
