/// The two projection semantics (domain.md §3).
public enum Semantics: String, Sendable, Hashable, Codable, CaseIterable {
    /// Without the Email Feedback Service: a message counts as Sent as soon as it is relayed.
    case classic
    /// With the Email Feedback Service: "Taken into account by the service provider" until the MTA
    /// reports delivery.
    case efs
}

/// A message's status in a delivery log (Campaign "Delivery statuses"; domain.md §3).
/// Raw values are the public JSON tokens.
public enum MessageStatus: String, Sendable, Hashable, Codable, CaseIterable {
    case pending
    case sent
    case takenIntoAccount
    case failed

    /// Campaign's label, as shown in the delivery logs.
    public var label: String {
        switch self {
        case .pending: "Pending"
        case .sent: "Sent"
        case .takenIntoAccount: "Taken into account by the service provider"
        case .failed: "Failed"
        }
    }
}

/// A message's status under one semantics, with the event that decided it.
public struct MessageStatusView: Sendable, Hashable {
    /// The delivery-log status.
    public var status: MessageStatus
    /// The failure type: of the final failure when ``status`` is failed, of the last soft failure
    /// when the message is retrying, else `nil`.
    public var failureType: FailureType?
    /// The failure (or current error) reason, as ``failureType``.
    public var failureReason: FailureReason?
    /// Whether the message had a soft failure and no final outcome (the MTA keeps trying).
    public var retrying: Bool
    /// The global position of the event that decided the status (`nil` while pending).
    public var decidedBy: UInt64?
}

/// One outcome remembered by the fold: when, where in the log, what.
public struct OutcomeMark: Sendable, Hashable {
    /// Valid time of the event (UTC).
    public var occurredAt: Instant
    /// Global log position of the event.
    public var position: UInt64
    /// The event's kind.
    public var kind: EventKind
    /// The event's failure type and reason, if a failure.
    public var qualification: Qualification?
    /// Whether the failure happened before the message reached the MTA.
    public var beforeRelay: Bool

    /// Valid-time order, ties by position (domain.md §3).
    func isLater(than other: OutcomeMark) -> Bool {
        (occurredAt, position) > (other.occurredAt, other.position)
    }
}

/// The per-message projection state: a fold over the message's events whose result does not depend
/// on the order the events are applied in (domain.md §3).
///
/// Rules (domain.md §3, from Campaign's Enhanced MTA / EFS documentation):
/// - the latest **final** outcome (`delivered`, final `bounce`, `timeout`; latest by `occurredAt`,
///   ties by position) decides: a bounce after delivered ends Failed, a delivery after a final soft
///   failure ends Sent;
/// - a non-final soft failure (`retry`, `bounce` with `final: false`) never replaces a final
///   outcome; while there is none, the latest one sets the current error reason (retrying);
/// - `complaint`, `unsubscribe`, `autoReply` never change status;
/// - an outcome without a `relay` implies the relay, except a failure before relay (`beforeRelay`).
///
/// Every field is a maximum or a minimum over the events, so applying events in any order, or
/// applying one twice, gives the same state.
public struct MessageState: Sendable, Hashable {
    /// The earliest relay (valid time), if any relay event was seen.
    public var relay: OutcomeMark?
    /// Whether an outcome other than a failure before relay implies the relay.
    public var impliedRelay: OutcomeMark?
    /// The latest final outcome.
    public var final: OutcomeMark?
    /// The latest non-final soft failure.
    public var soft: OutcomeMark?

    /// The state of a message with no event.
    public init() {}

    /// Folds one event into the state. Events of other kinds than relay and outcomes are ignored.
    public mutating func apply(_ e: Event, position: UInt64) {
        apply(OutcomeMark(occurredAt: e.occurredAt, position: position, kind: e.kind,
                          qualification: e.qualification, beforeRelay: e.beforeRelay), isFinal: e.final)
    }

    /// Folds one event given as its mark; `isFinal` is the event's `final` flag (bounces only).
    mutating func apply(_ mark: OutcomeMark, isFinal finalFlag: Bool) {
        switch mark.kind {
        case .relay:
            if relay.map({ !mark.isLater(than: $0) }) ?? true { relay = mark }
        case .delivered, .bounce, .retry, .timeout:
            if !mark.beforeRelay, impliedRelay.map({ !mark.isLater(than: $0) }) ?? true { impliedRelay = mark }
            let isFinal = mark.kind == .delivered || mark.kind == .timeout || (mark.kind == .bounce && finalFlag)
            if isFinal {
                if final.map({ mark.isLater(than: $0) }) ?? true { final = mark }
            } else {
                if soft.map({ mark.isLater(than: $0) }) ?? true { soft = mark }
            }
        case .complaint, .unsubscribe, .autoReply, .delivery, .efsFlag:
            break
        }
    }

    /// Folds events from scratch.
    public static func fold(_ events: some Sequence<RecordedEvent>) -> MessageState {
        var s = MessageState()
        for r in events { s.apply(r.event, position: r.position) }
        return s
    }

    /// Whether the message reached the MTA (a relay, or an outcome implying one).
    public var isRelayed: Bool { relay != nil || impliedRelay != nil }

    /// The message's status under `semantics` (domain.md §3 table).
    public func view(_ semantics: Semantics) -> MessageStatusView {
        if let f = final {
            if f.kind == .delivered {
                return MessageStatusView(status: .sent, failureType: nil, failureReason: nil, retrying: false, decidedBy: f.position)
            }
            return MessageStatusView(status: .failed, failureType: f.qualification?.type, failureReason: f.qualification?.reason,
                                     retrying: false, decidedBy: f.position)
        }
        guard isRelayed else {
            return MessageStatusView(status: .pending, failureType: nil, failureReason: nil, retrying: false, decidedBy: nil)
        }
        let status: MessageStatus = semantics == .classic ? .sent : .takenIntoAccount
        if let s = soft {
            return MessageStatusView(status: status, failureType: s.qualification?.type, failureReason: s.qualification?.reason,
                                     retrying: true, decidedBy: s.position)
        }
        return MessageStatusView(status: status, failureType: nil, failureReason: nil, retrying: false,
                                 decidedBy: (relay ?? impliedRelay)?.position)
    }

    /// The state's contribution to its delivery's KPI counters.
    var summary: MessageSummary {
        if let f = final {
            if f.kind == .delivered { return MessageSummary(category: .delivered, qualification: nil) }
            let q = f.qualification ?? Qualification(.notDefined, .notDefined)
            return MessageSummary(category: f.beforeRelay ? .failedBeforeRelay : .bounced, qualification: q)
        }
        if isRelayed { return MessageSummary(category: soft != nil ? .retrying : .inFlight, qualification: nil) }
        return MessageSummary(category: .pending, qualification: nil)
    }
}

/// Where a message stands for the KPIs, semantics-independent.
struct MessageSummary: Hashable {
    enum Category: Hashable { case pending, inFlight, retrying, delivered, bounced, failedBeforeRelay }
    var category: Category
    var qualification: Qualification?
}
