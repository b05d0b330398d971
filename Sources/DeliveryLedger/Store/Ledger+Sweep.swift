import LMDBKit

/// What an expiry sweep did (domain.md §4).
public struct SweepResult: Sendable, Hashable {
    /// The `timeout` events appended (one per message that was retrying when its validity ran out).
    public var appended: Int
    /// Messages relayed, past their validity, with no outcome that occurred by their expiry: counted,
    /// never failed — the ledger does not invent an outcome the MTA never gave (the rule `audit` and
    /// `domains` apply).
    public var noFeedback: Int
    /// Those messages by delivery id (only deliveries with at least one).
    public var noFeedbackByDelivery: [String: Int] = [:]
    /// The log position after the sweep.
    public var lastPosition: UInt64
}

extension Ledger {
    /// The validity period the Enhanced MTA honours: 3.5 days = 302,400 s (Campaign "Sending with
    /// the Enhanced MTA", Validity period; domain.md §4).
    public static let validityCapSeconds: Int64 = 302_400
    /// Campaign's default validity period: 5 days (domain.md §1).
    public static let defaultValiditySeconds: Int64 = 432_000

    /// The effective validity of a delivery's messages: min(declared validity or 5 days, 3.5 days),
    /// in seconds, counted from each message's relay (domain.md §4).
    public func effectiveValiditySeconds(delivery: String) throws(LedgerError) -> Int64 {
        min(try declaration(delivery: delivery).validitySeconds ?? Ledger.defaultValiditySeconds, Ledger.validityCapSeconds)
    }

    /// The expiry sweep (domain.md §4): appends, in one atomic batch, a `timeout` for every message
    /// that is retrying (a soft failure and no final outcome) once its effective validity has run out
    /// by `now`: `occurredAt` = relay time + effective validity, type soft, reason = the last soft
    /// failure's. Idempotent: a swept message has a final outcome, so a second sweep appends nothing.
    /// It decides from what the ledger knows: run it once the MTA's feedback for the period is in (an
    /// MTA report that arrives later and occurred before the expiry is still recorded, and the latest
    /// final outcome by valid time decides, domain.md §3).
    /// - Parameter now: the sweep's instant (UTC).
    /// - Throws: ``LedgerError``; nothing is appended when it throws.
    @discardableResult
    public func sweep(now: Instant) throws(LedgerError) -> SweepResult {
        var timeouts: [Event] = []
        var noFeedback = 0
        var noFeedbackByDelivery: [String: Int] = [:]
        for delivery in try deliveries() {
            let validity = try effectiveValiditySeconds(delivery: delivery)
            let states: [(String, MessageState)] = try run {
                try withView { txn, view in
                    guard let d = try view.deliveryOrdinal(Array(delivery.utf8), txn) else { return [] }
                    var result: [(String, MessageState)] = []
                    for (ordinal, recipient) in try view.streams(ofDelivery: d, txn) where !recipient.isEmpty {
                        if let state = try view.messageState(ordinal, txn) {
                            result.append((recipient, state))
                        }
                    }
                    return result
                }
            }
            for (recipient, state) in states {
                let relays = [state.relay, state.impliedRelay].compactMap { $0 }
                guard let relay = relays.min(by: { ($0.occurredAt, $0.position) < ($1.occurredAt, $1.position) }) else { continue }
                let expiry = relay.occurredAt.adding(seconds: validity)
                guard expiry <= now else { continue }
                if let final = state.final {
                    // A final outcome decides, no timeout; but one reported for an instant after the
                    // expiry, with nothing before it, leaves the message without feedback within its
                    // validity — counted as `audit` and `domains` count it.
                    if final.occurredAt > expiry, state.soft.map({ $0.occurredAt > expiry }) ?? true,
                       try !hadOutcome(delivery: delivery, recipient: recipient, by: expiry) {
                        noFeedback += 1
                        noFeedbackByDelivery[delivery, default: 0] += 1
                    }
                    continue
                }
                guard let soft = try softFailure(of: state, delivery: delivery, recipient: recipient, by: expiry) else {
                    noFeedback += 1
                    noFeedbackByDelivery[delivery, default: 0] += 1
                    continue
                }
                let reason = soft.qualification?.reason ?? .unreachable
                timeouts.append(Event(
                    id: "sweep-timeout-\(expiry.millisecondsSinceEpoch)", kind: .timeout, delivery: delivery, recipient: recipient,
                    occurredAt: expiry, response: "validity period of \(validity) s ran out while the MTA was retrying (ledger sweep)",
                    qualification: Qualification(.soft, reason == .notDefined ? .unreachable : reason), qualifier: "sweep",
                    source: .ledger))
            }
        }
        let result = try append(timeouts)
        return SweepResult(appended: result.appended, noFeedback: noFeedback, noFeedbackByDelivery: noFeedbackByDelivery,
                           lastPosition: result.lastPosition)
    }

    /// Whether any outcome of the message occurred by `expiry` — "feedback within the validity", the
    /// rule of the sweep's no-feedback count, ``audit(delivery:now:lateAfterSeconds:)`` and
    /// ``domainBreakdown(delivery:semantics:now:)``. Reads the message's events.
    func hadOutcome(delivery: String, recipient: String, by expiry: Instant) throws(LedgerError) -> Bool {
        Self.hasOutcome(try events(delivery: delivery, recipient: recipient), by: expiry)
    }

    /// Whether `events` hold an outcome that occurred by `expiry`.
    static func hasOutcome(_ events: [RecordedEvent], by expiry: Instant) -> Bool {
        events.contains { $0.event.kind.isOutcome && $0.event.occurredAt <= expiry }
    }

    /// The message's last soft failure that occurred by `expiry` (domain.md §4: the sweep times out
    /// a message "retrying at that moment", with the reason known then), or `nil` when it had none —
    /// a soft failure reported for a later instant (the MTA tried after the ledger's validity ended)
    /// neither makes it a retrying message at the expiry nor lends its reason to an earlier timeout.
    /// The state keeps only the latest soft failure; when that one is later than `expiry`, the
    /// message's events by `expiry` are folded again.
    private func softFailure(of state: MessageState, delivery: String, recipient: String, by expiry: Instant) throws(LedgerError) -> OutcomeMark? {
        guard let soft = state.soft else { return nil }
        if soft.occurredAt <= expiry { return soft }
        var earlier = MessageState()
        for r in try events(delivery: delivery, recipient: recipient) where r.event.occurredAt <= expiry {
            earlier.apply(asProjected(r.event), position: r.position)
        }
        return earlier.final == nil ? earlier.soft : nil
    }
}
