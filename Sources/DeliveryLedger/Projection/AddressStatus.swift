/// An address's status across deliveries: Campaign's quarantine management (domain.md §6;
/// Campaign Classic "Understanding quarantine management", reference/campaign.md §4).
public enum AddressQuarantineStatus: String, Sendable, Hashable, Codable, CaseIterable {
    case valid
    case withErrors
    case quarantine
    case denylisted

    /// Campaign's label.
    public var label: String {
        switch self {
        case .valid: "Valid"
        case .withErrors: "With errors"
        case .quarantine: "Quarantine"
        case .denylisted: "Denylisted"
        }
    }
}

/// The rules' parameters (domain.md §6), with Campaign's defaults.
public struct QuarantineRules: Sendable, Hashable {
    /// Counted soft errors that put the address in quarantine (`NmsNPAI_EmailMaxError`, default 5;
    /// domain.md decides "when the count reaches 5").
    public var threshold: Int = 5
    /// Two soft errors both count only if at least this far apart (`NmsNPAI_EmailSignificantErrorDelay`, 1 day).
    public var spacingSeconds: Int64 = 86_400
    /// With errors goes back to Valid when the last counted error is this old (10 days).
    public var resetSeconds: Int64 = 864_000
    /// A Mailbox full quarantine is lifted after this long (30 days).
    public var mailboxFullLiftSeconds: Int64 = 2_592_000

    /// Campaign's defaults.
    public init() {}
}

/// The address status fold: events of one address across deliveries, in valid-time order.
///
/// Rules (domain.md §6): a hard failure → Quarantine at once; a complaint or unsubscribe →
/// Denylisted; a soft failure counts only if ≥ 24 h after the last counted one, and the address goes
/// to Quarantine when the count reaches the threshold; ignored and not-defined failures never count;
/// a delivery, or 10 days without a counted error, resets With errors → Valid; a Mailbox full
/// quarantine is lifted after 30 days; Quarantine and Denylisted are otherwise never lifted.
/// A failure that concerns the sender, the content or the session (``FailureConcern``, the rule
/// table's `concerns`) never counts, hard or soft: only a failure about the recipient may count
/// against the recipient's address (issue #14); it is listed in ``notCounted``.
public struct AddressState: Sendable, Hashable {
    public static func == (l: AddressState, r: AddressState) -> Bool {
        l.status == r.status && l.errorCount == r.errorCount && l.lastCountedAt == r.lastCountedAt && l.reason == r.reason
            && l.since == r.since && l.causes == r.causes
            && l.notCounted.map(\.position) == r.notCounted.map(\.position) && l.notCounted.map(\.concerns) == r.notCounted.map(\.concerns)
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(status); hasher.combine(errorCount); hasher.combine(causes)
        for n in notCounted { hasher.combine(n.position); hasher.combine(n.concerns) }
    }

    /// The current status.
    public var status: AddressQuarantineStatus = .valid
    /// Counted soft errors since the last reset.
    public var errorCount = 0
    /// When the last counted error occurred.
    public var lastCountedAt: Instant?
    /// The reason of the failure that quarantined the address.
    public var reason: FailureReason?
    /// When the address entered Quarantine or Denylisted.
    public var since: Instant?
    /// The positions of the events that made the current status (counted errors, the hard failure,
    /// the complaint).
    public var causes: [UInt64] = []
    /// The positions of failures that did not count because they concern the sender, the content
    /// or the session, not the address (``FailureConcern``; issue #14), with whom they concern.
    public var notCounted: [(position: UInt64, concerns: FailureConcern)] = []

    /// An address with no event.
    public init() {}

    /// Applies the time-based rules up to `t` (resets and lifts that fall due by then).
    public mutating func advance(to t: Instant, rules: QuarantineRules) {
        if status == .withErrors, let last = lastCountedAt, last.adding(seconds: rules.resetSeconds) <= t {
            reset()
        } else if status == .quarantine, reason == .mailboxFull, let s = since, s.adding(seconds: rules.mailboxFullLiftSeconds) <= t {
            reset()
        }
    }

    /// Back to Valid with no counted error; ``notCounted`` is kept (those failures never count,
    /// whatever the status: the list still explains them).
    private mutating func reset() {
        let kept = notCounted
        self = AddressState()
        notCounted = kept
    }

    /// Folds one event (already qualified as the projection sees it) at `position`; `concerns` is
    /// whom the failure concerns (``TextQualifier/concerns(of:)``), the recipient by default.
    public mutating func apply(_ e: Event, position: UInt64, rules: QuarantineRules, concerns: FailureConcern = .recipient) {
        advance(to: e.occurredAt, rules: rules)
        guard status != .denylisted else { return }
        switch e.kind {
        case .complaint, .unsubscribe:
            status = .denylisted
            since = e.occurredAt
            reason = .denylistedAddress
            causes = [position]
        case .delivered:
            if status == .withErrors { reset() }
        case .bounce, .retry, .timeout:
            guard status != .quarantine, let q = e.qualification else { return }
            if concerns != .recipient, q.type == .hard || q.type == .soft {
                notCounted.append((position, concerns))
                return
            }
            switch q.type {
            case .hard:
                status = .quarantine
                since = e.occurredAt
                reason = q.reason
                causes.append(position)
            case .soft:
                if let last = lastCountedAt, e.occurredAt < last.adding(seconds: rules.spacingSeconds) { return }
                errorCount += 1
                lastCountedAt = e.occurredAt
                causes.append(position)
                reason = q.reason
                status = errorCount >= rules.threshold ? .quarantine : .withErrors
                if status == .quarantine { since = e.occurredAt }
            case .ignored, .notDefined:
                return
            }
        case .relay, .autoReply, .delivery, .efsFlag:
            return
        }
    }
}
