import DeliveryLedger

/// A message's history: its events in valid-time order (ties by log position), each with the
/// message's status under both semantics once that event is folded in (domain.md §3). What
/// `ledger history` prints, as a table or as ``HistoryJSON``.
public struct MessageHistory: Sendable {
    /// One event and the status it led to.
    public struct Step: Sendable {
        /// The event, as the projection sees it (``Ledger/asProjected(_:)``: a text-qualified
        /// failure qualified by the ledger's rule table, the one the basis names).
        public var recorded: RecordedEvent
        /// The message's status under the classic semantics once the event is folded in.
        public var classic: MessageStatusView
        /// The message's status under the EFS semantics once the event is folded in.
        public var efs: MessageStatusView
    }

    /// The steps, in valid-time order (`occurredAt`, ties by log position).
    public var steps: [Step]

    /// Folds the report's events one at a time.
    /// - Parameters:
    ///   - report: the message's status report (``Ledger/status(delivery:recipient:at:)``), whose
    ///     events are the ones within its bounds.
    ///   - ledger: the ledger that answered it (its rule table qualifies text failures).
    public init(_ report: MessageStatusReport, ledger: Ledger) {
        var state = MessageState()
        steps = report.events
            .sorted { ($0.event.occurredAt, $0.position) < ($1.event.occurredAt, $1.position) }
            .map { r in
                let projected = RecordedEvent(position: r.position, recordedAt: r.recordedAt, event: ledger.asProjected(r.event))
                state.apply(projected.event, position: r.position)
                return Step(recorded: projected, classic: state.view(.classic), efs: state.view(.efs))
            }
    }
}

/// The JSON shape of one `ledger history --format json` line (`Schemas/history.schema.json`): one
/// message's history. Its names are `status --format json`'s (``StatusJSON``): the same `delivery`,
/// `recipient` and `basis`, each step's `event` an ``StatusJSON/EventJSON`` and its `classic` and `efs`
/// a ``StatusJSON/ViewJSON``; instants are RFC 3339 UTC with milliseconds.
public struct HistoryJSON: Encodable, Sendable {
    /// One event and the message's status once it is folded in.
    public struct StepJSON: Encodable, Sendable {
        /// The event (as in `Schemas/status.schema.json`).
        public var event: StatusJSON.EventJSON
        /// The status under the classic semantics after this event.
        public var classic: StatusJSON.ViewJSON
        /// The status under the EFS semantics after this event.
        public var efs: StatusJSON.ViewJSON
    }
    /// The delivery id.
    public var delivery: String
    /// The normalised recipient address.
    public var recipient: String
    /// The steps, in valid-time order (ties by log position).
    public var history: [StepJSON]
    /// What the answer is based on.
    public var basis: ProjectJSON.BasisJSON

    /// The document of one message's history.
    /// With `includeRaw`, each event carries its raw source bytes (``StatusJSON/EventJSON/raw``).
    public init(_ report: MessageStatusReport, history: MessageHistory, includeRaw: Bool = false) {
        delivery = report.delivery
        recipient = report.recipient
        self.history = history.steps.map {
            StepJSON(event: StatusJSON.EventJSON($0.recorded, includeRaw: includeRaw), classic: StatusJSON.ViewJSON($0.classic), efs: StatusJSON.ViewJSON($0.efs))
        }
        basis = ProjectJSON.BasisJSON(report.basis)
    }
}
