/// What happens to one message (one recipient's copy within a delivery) in a generated workload.
///
/// Each message draws one scenario, independently, with the ``nominalShare`` probabilities
/// (per-mille weights that add up to 1,000). The expected status follows domain.md §3.
public enum Scenario: String, Sendable, CaseIterable, Hashable {
    /// `injection`, then `delivery` seconds to minutes later. Expected: Sent (both semantics).
    case delivered
    /// `injection`, one to three `delay` events (4xx: greylisting class 20, Yahoo TSS04 class 50,
    /// over quota class 22, no MX class 21, connection timed out class 70) on SparkPost's retry
    /// schedule (20, 40 min…), then `delivery`. Expected: Sent.
    case softThenDelivered
    /// `injection`, then an in-band final `bounce` seconds later: mostly class 10 (Gmail,
    /// Outlook, Yahoo, Postfix "user unknown" texts → hard, user unknown), one in ten class 51
    /// (Spamhaus block → soft, refused). Expected: Failed.
    case hardBounce
    /// `injection`, `delay` events for 3.5 days, then a `bounce` `554 5.4.7 [internal] message
    /// timeout (last transfail: 452 4.2.2 …)` class 22 or `554 5.4.7 [internal] exceeded max time
    /// without delivery` class 24. Expected: Failed (soft; mailbox full or unreachable).
    case timeout
    /// `injection`, `delivery`, then an `out_of_band` bounce 1 to 48 hours later (class 10 or 22).
    /// Expected: Failed (the latest final outcome wins).
    case asyncBounceAfterDelivery
    /// `injection` and one to four `delay` events, no final outcome. Expected: Sent (classic) /
    /// Taken into account (EFS), retrying.
    case stillRetrying
    /// No event at all: the message only counts in the declared to-deliver. Expected: Pending.
    case notRelayed
    /// A `policy_rejection` (message_event, class 25, `554 5.7.1 recipient address suppressed due
    /// to customer policy`) or, one in six, a `generation_rejection` (gen_event, no class); no
    /// `injection`. Expected: Failed before relay.
    case policyRejection

    /// The probability of this scenario, in per-mille (the weights add up to 1,000).
    public var nominalPerMille: Int {
        switch self {
        case .delivered: 800
        case .softThenDelivered: 60
        case .hardBounce: 50
        case .timeout: 30
        case .asyncBounceAfterDelivery: 20
        case .stillRetrying: 20
        case .notRelayed: 10
        case .policyRejection: 10
        }
    }

    /// The probability of this scenario, 0…1.
    public var nominalShare: Double { Double(nominalPerMille) / 1000 }

    /// Whether the message ends delivered (Sent in both semantics).
    public var endsDelivered: Bool { self == .delivered || self == .softThenDelivered }

    /// Whether the message ends with a final failure (Failed in both semantics).
    public var endsFailed: Bool {
        switch self {
        case .hardBounce, .timeout, .asyncBounceAfterDelivery, .policyRejection: true
        default: false
        }
    }

    /// Whether the message reaches the MTA (has an `injection`).
    public var isRelayed: Bool { self != .notRelayed && self != .policyRejection }
}

/// Status-neutral signals added on top of a message's scenario (domain.md §2: they never change
/// the message status). Only delivered messages (``Scenario/endsDelivered``) get them.
public struct MessageSignals: OptionSet, Sendable, Hashable {
    /// The raw bits.
    public var rawValue: UInt8
    /// Creates a set from its raw bits.
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    /// A `bounce` with class 60 (auto-reply) minutes to hours after `delivery` (1.5 %).
    public static let autoReply = MessageSignals(rawValue: 1 << 0)
    /// A `spam_complaint` (FBL, `fbtype` abuse) hours after `delivery` (0.2 %).
    public static let complaint = MessageSignals(rawValue: 1 << 1)
    /// A `list_unsubscribe` or `link_unsubscribe` (unsubscribe_event) after `delivery` (0.3 %).
    public static let unsubscribe = MessageSignals(rawValue: 1 << 2)
    /// An `open` track event (6 %), which readers count and skip.
    public static let open = MessageSignals(rawValue: 1 << 3)
    /// A `click` track event after the open (a quarter of opens), which readers count and skip.
    public static let click = MessageSignals(rawValue: 1 << 4)
}

/// The generator's intent for one message, for tests to compare a projection against.
public struct MessageScenario: Sendable, Hashable {
    /// The delivery id (`campaign-2026-11-<n>`).
    public var delivery: String
    /// The recipient address as the ledger keys it: SparkPost's lower-case `rcpt_to`.
    public var recipient: String
    /// What happens to the message.
    public var scenario: Scenario
    /// Status-neutral extra events of the message.
    public var signals: MessageSignals

    /// Creates a message scenario.
    ///
    /// - Parameters:
    ///   - delivery: delivery id.
    ///   - recipient: lower-case recipient address.
    ///   - scenario: what happens to the message.
    ///   - signals: extra, status-neutral events.
    public init(delivery: String, recipient: String, scenario: Scenario, signals: MessageSignals = []) {
        self.delivery = delivery
        self.recipient = recipient
        self.scenario = scenario
        self.signals = signals
    }
}
