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
        /// An event received again after it was recorded (same stream, same id, same content): the
        /// append was a no-op; `position` is the recorded event's.
        case duplicateReceived
        /// The same outcome reported twice under different ids (same kind, instant and response).
        case duplicateOutcome
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
    /// events received again (re-appends are no-ops in the log; the ledger keeps a receipt of each:
    /// when, and which recorded event), and the same outcome reported twice under different ids.
    /// Findings come per message in valid-time order, then the duplicates received.
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
                if e.kind.isOutcome, let twin = events.first(where: { o in
                    o.position < r.position && o.event.kind == e.kind && o.event.occurredAt == e.occurredAt
                        && o.event.response == e.response && o.event.final == e.final && o.event.id != e.id
                }) {
                    findings.append(AuditFinding(kind: .duplicateOutcome, recipient: recipient, position: r.position,
                                                 detail: "\(e.kind.rawValue) '\(e.id)' repeats '\(twin.event.id)' (#\(twin.position)) at the same instant"))
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
            // No feedback: the validity ran out by `at` with no outcome occurred by the expiry — the rule
            // `sweep` and `domains` apply (an MTA report for an instant after the expiry is no feedback
            // within the validity; found by testers: an audit at 10:15 missed a message whose only retry
            // occurred at 10:30, and the sweep's count pointed to an audit that listed nothing).
            if let relay {
                let expiry = relay.event.occurredAt.adding(seconds: validity)
                if expiry <= at, !Self.hasOutcome(events, by: expiry) {
                    findings.append(AuditFinding(kind: .noFeedbackPastValidity, recipient: recipient, position: relay.position,
                                                 detail: "relayed \(relay.event.occurredAt.rfc3339); validity \(validity) s ran out with no feedback"))
                }
            }
        }
        findings += try duplicatesReceived(delivery: delivery)
        return findings
    }

    /// The receipts of events of `delivery` received again, in order of the recorded event.
    private func duplicatesReceived(delivery: String) throws(LedgerError) -> [AuditFinding] {
        try run {
            try withView { txn, view in
                guard let d = try view.deliveryOrdinal(Array(delivery.utf8), txn) else { return [] }
                let receipts = try DuplicateReceipts.read(delivery: d, txn, tables.duplicates)
                var recipientOf: [UInt32: String] = [:]
                let now = options.clock()
                return try receipts.map { receipt in
                    let header = try txn.withValue(tables.log, key: Key.u64(receipt.original)) { try RecordCodec.header($0) }
                    guard let header else { throw LedgerError.corrupt(position: receipt.original, what: "a duplicate receipt names a missing record") }
                    let stream = header.stream
                    let info = try view.streamInfo(stream, txn)
                    // The checks of `verify`: never a finding from a receipt it would call damaged.
                    if let problem = DuplicateReceipts.problem(receipt, delivery: d, recordDelivery: info?.deliveryOrdinal,
                                                               recordedAt: header.recordedAt, now: now) {
                        throw LedgerError.corrupt(position: receipt.original,
                                                  what: "the duplicates entry of delivery ordinal \(d) for position \(receipt.original) \(problem): `ledger verify` names every damaged entry")
                    }
                    if recipientOf[stream] == nil { recipientOf[stream] = info?.recipient ?? "" }
                    return AuditFinding(kind: .duplicateReceived, recipient: recipientOf[stream]!, position: receipt.original,
                                        detail: receipt.times == 1 ? "received again once at \(receipt.first.rfc3339) (no-op)"
                                            : "received again \(receipt.times) times, first at \(receipt.first.rfc3339), last at \(receipt.last.rfc3339) (no-op)")
                }
            }
        }
    }
}
